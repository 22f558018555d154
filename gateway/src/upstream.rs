//! The upstreams: a [`Pool`] per service (the catalog's nodes, the cart, orders), each
//! [`Instance`] with its health, breaker, request window and — for catalog nodes — the last
//! `/cluster/status` it gave. [`Pool::pick`] chooses where a request goes.
//!
//! The catalog's pool follows the cluster's membership ([`Pool::follow`]): it starts from
//! the configured nodes, and each membership the prober reads adds the members it lacks
//! (learners included, which take reads only) and drops the nodes the membership no longer
//! names. The instance list is swapped whole ([`ArcSwap`], read without a lock on every
//! request, as pingora keeps its backends); an instance that stays keeps its `Arc`, hence
//! its health, breaker and window.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::{ArcSwap, Guard};
use confeitaria_types::{ClusterStatus, Membership};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use http::HeaderValue;
use tokio::time::Instant;

use crate::breaker::{Breaker, BreakerPolicy, BreakerState, Permit};
use crate::health::{Health, HealthPolicy};
use crate::window::{Summary, Window};

/// Which service an upstream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// The catalog's Raft nodes (and learners).
    Catalog,
    /// The cart service.
    Cart,
    /// The orders service.
    Orders,
}

impl Group {
    /// Name in labels, `X-Upstream` and errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Catalog => "catalog",
            Self::Cart => "cart",
            Self::Orders => "orders",
        }
    }
}

/// What the active prober last learnt about a catalog node.
#[derive(Debug, Clone, Default)]
pub struct NodeView {
    /// Its last `/cluster/status`, if it ever answered.
    pub status: Option<ClusterStatus>,
    /// When it last answered a probe.
    pub last_ok: Option<Instant>,
    /// Whether the latest probe succeeded.
    pub probe_ok: bool,
}

/// One instance of an upstream.
#[derive(Debug)]
pub struct Instance {
    /// `catalog@127.0.0.1:5001`: the `X-Upstream` value and the `instance` label (shared,
    /// so that labelling a metric with it does not allocate).
    pub label: Arc<str>,
    /// `label` as the `X-Upstream` header value, made once.
    pub header: HeaderValue,
    /// Its service.
    pub group: Group,
    /// `host:port`.
    pub addr: String,
    /// `http://host:port`.
    pub base: String,
    /// `host:port` as a URI authority, made once (`None` if the address is not one).
    authority: Option<Authority>,
    /// Catalog node id, once known (0: unknown).
    node_id: AtomicU64,
    /// A catalog learner, as the latest membership says: it takes reads, never writes.
    learner: AtomicBool,
    /// Active and passive health.
    pub health: Health,
    // std mutexes below: a few field updates each, never held across an `.await`.
    breaker: Mutex<Breaker>,
    window: Mutex<Window>,
    view: Mutex<NodeView>,
}

impl Instance {
    fn new(group: Group, addr: &str, node_id: Option<u64>, breaker: BreakerPolicy) -> Self {
        let addr = normalize(addr);
        let label = format!("{}@{addr}", group.name());
        Self {
            header: HeaderValue::from_str(&label)
                .unwrap_or_else(|_| HeaderValue::from_static(group.name())),
            label: label.into(),
            group,
            addr: addr.to_owned(),
            base: format!("http://{addr}"),
            authority: addr.parse().ok(),
            node_id: AtomicU64::new(node_id.unwrap_or(0)),
            learner: AtomicBool::new(false),
            health: Health::default(),
            breaker: Mutex::new(Breaker::new(breaker)),
            window: Mutex::new(Window::default()),
            view: Mutex::new(NodeView::default()),
        }
    }

    /// `path_and_query` on this instance, built from parts made once (no text to format and
    /// parse on every request); `None` if the instance's address is not a URI authority.
    pub fn uri(&self, path_and_query: Option<&PathAndQuery>) -> Option<Uri> {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(self.authority.clone()?);
        parts.path_and_query = Some(
            path_and_query
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        );
        Uri::from_parts(parts).ok()
    }

    /// Catalog node id, once known.
    pub fn node_id(&self) -> Option<u64> {
        Some(self.node_id.load(Ordering::Relaxed)).filter(|id| *id != 0)
    }

    /// Whether the latest membership names this instance a learner.
    pub fn is_learner(&self) -> bool {
        self.learner.load(Ordering::Relaxed)
    }

    /// The breaker's state.
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .state()
    }

    fn try_acquire(&self, now: Instant) -> Option<Permit> {
        self.breaker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .try_acquire(now)
    }

    /// A request got an HTTP answer from this instance (`shed`: a 503, which says the node
    /// is alive but cannot serve: it counts against its health, not its breaker).
    pub fn answered(&self, took: Duration, shed: bool, policy: &HealthPolicy) {
        self.breaker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .on_success();
        self.health.observe(!shed, policy);
        self.record_window(took, !shed);
    }

    /// A request failed at the transport: refused, reset or timed out.
    pub fn failed(&self, took: Duration, policy: &HealthPolicy) {
        let now = Instant::now();
        self.breaker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .on_failure(now);
        self.health.observe(false, policy);
        self.record_window(took, false);
    }

    fn record_window(&self, took: Duration, ok: bool) {
        self.window
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(Instant::now(), took, ok);
    }

    /// Rate, error rate and latency of the last `seconds`.
    pub fn summary(&self, seconds: u64) -> Summary {
        self.window
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .summary(Instant::now(), seconds)
    }

    /// Records an active probe's outcome (and, for a catalog node, its status). A failed
    /// probe also counts against the breaker, so that a dead instance's breaker opens even
    /// when health already keeps requests away; only a real request closes it again.
    pub fn probed(&self, status: Option<ClusterStatus>, ok: bool, policy: &HealthPolicy) {
        self.health.observe(ok, policy);
        if !ok {
            self.breaker
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .on_failure(Instant::now());
        }
        let mut v = self.view.lock().unwrap_or_else(|p| p.into_inner());
        v.probe_ok = ok;
        if ok {
            v.last_ok = Some(Instant::now());
        }
        if let Some(s) = status {
            self.node_id.store(s.id, Ordering::Relaxed);
            v.status = Some(s);
        }
    }

    /// What the prober last learnt.
    pub fn view(&self) -> NodeView {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// `host:port` of an address given as `host:port` or `http://host:port/`.
fn normalize(addr: &str) -> &str {
    addr.trim()
        .trim_start_matches("http://")
        .trim_end_matches('/')
}

/// A pool's instances at one moment: what one request picks from, retries included.
pub type Instances = Guard<Arc<Vec<Arc<Instance>>>>;

/// The instances of one service.
#[derive(Debug)]
pub struct Pool {
    /// Which service.
    pub group: Group,
    /// Its instances: the configured ones first, then members the membership added.
    instances: ArcSwap<Vec<Arc<Instance>>>,
    /// The configured addresses: kept while the membership does not name their node
    /// otherwise, and asked for the membership when no instance is left.
    seeds: Vec<String>,
    breaker: BreakerPolicy,
    /// Deadline of one attempt at one instance.
    pub timeout: Duration,
    next: AtomicUsize,
    /// Id of the catalog node the cluster names leader (0: unknown).
    leader: AtomicU64,
}

/// Where [`Pool::pick`] sends the next attempt.
#[derive(Debug, Clone)]
pub struct Pick {
    /// Index in the [`Instances`] picked from.
    pub index: usize,
    /// The instance.
    pub instance: Arc<Instance>,
    /// Normal or half-open probe.
    pub permit: Permit,
}

/// What [`Pool::follow`] changed: addresses added and removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Followed {
    /// Members the pool did not have.
    pub added: Vec<String>,
    /// Instances the membership no longer names.
    pub removed: Vec<String>,
}

impl Pool {
    /// A pool of `addrs` (`host:port` or `http://host:port`), with catalog node ids when
    /// known (same order).
    pub fn new(
        group: Group,
        addrs: &[String],
        ids: &[u64],
        timeout: Duration,
        breaker: BreakerPolicy,
    ) -> Self {
        let instances = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| Arc::new(Instance::new(group, a, ids.get(i).copied(), breaker)))
            .collect();
        Self {
            group,
            instances: ArcSwap::from_pointee(instances),
            seeds: addrs.iter().map(|a| normalize(a).to_owned()).collect(),
            breaker,
            timeout,
            next: AtomicUsize::new(0),
            leader: AtomicU64::new(0),
        }
    }

    /// The instances now (a cheap, lock-free snapshot).
    pub fn instances(&self) -> Instances {
        self.instances.load()
    }

    /// The configured addresses (`host:port`).
    pub fn seeds(&self) -> &[String] {
        &self.seeds
    }

    /// Id of the node the cluster names leader, if known.
    pub fn leader_id(&self) -> Option<u64> {
        Some(self.leader.load(Ordering::Relaxed)).filter(|id| *id != 0)
    }

    /// Index of the leader in `instances`, if it is there.
    pub fn leader_in(&self, instances: &[Arc<Instance>]) -> Option<usize> {
        let id = self.leader_id()?;
        instances.iter().position(|s| s.node_id() == Some(id))
    }

    /// Remembers the leader by catalog node id (from `X-Raft-Leader` or a status).
    pub fn set_leader_id(&self, id: Option<u64>) {
        self.leader.store(id.unwrap_or(0), Ordering::Relaxed);
    }

    /// Makes the pool follow `m`, a catalog membership: an instance stays (the same `Arc`:
    /// health, breaker and window kept) while `m` names its node, by id or — id not yet
    /// learnt — by address; a configured instance whose node is not known yet stays too; a
    /// member the pool lacks is added (unhealthy until its probes succeed, so that no read
    /// goes to a node before it answered); every instance is marked learner or not. A node
    /// `m` does not name leaves. An empty membership (a cluster not initialized) changes
    /// nothing.
    pub fn follow(&self, m: &Membership, policy: &HealthPolicy) -> Followed {
        let mut done = Followed::default();
        if m.nodes.is_empty() {
            return done;
        }
        let current = self.instances.load_full();
        let mut next: Vec<Arc<Instance>> = Vec::with_capacity(m.nodes.len().max(current.len()));
        for inst in current.iter() {
            let by_addr = m
                .nodes
                .iter()
                .find(|(_, a)| normalize(&a.api_addr) == inst.addr)
                .map(|(id, _)| *id);
            let id = inst.node_id().or(by_addr);
            let keep = match id {
                Some(id) => m.contains(id) && !next.iter().any(|k| k.node_id() == Some(id)),
                None => self.seeds.contains(&inst.addr),
            };
            if keep {
                if let Some(id) = id {
                    inst.node_id.store(id, Ordering::Relaxed);
                }
                next.push(inst.clone());
            } else {
                done.removed.push(inst.addr.clone());
            }
        }
        for (id, addr) in &m.nodes {
            let api = normalize(&addr.api_addr);
            if api.is_empty()
                || next
                    .iter()
                    .any(|k| k.node_id() == Some(*id) || k.addr == api)
            {
                continue;
            }
            let inst = Instance::new(self.group, api, Some(*id), self.breaker);
            // Two failures take a new instance out at once: it earns its place with probes.
            for _ in 0..policy.failures_to_down.max(1) {
                inst.health.observe(false, policy);
            }
            done.added.push(inst.addr.clone());
            next.push(Arc::new(inst));
        }
        for inst in &next {
            let learner = inst.node_id().is_some_and(|id| m.learners.contains(&id));
            inst.learner.store(learner, Ordering::Relaxed);
        }
        if done != Followed::default() {
            self.instances.store(Arc::new(next));
        }
        done
    }

    /// Chooses an instance of `instances` (a snapshot from [`Pool::instances`]) not in
    /// `tried`: for a catalog write, the leader first; otherwise (and after it) round-robin
    /// over the healthy instances whose breaker lets a request through, then over any
    /// instance whose breaker does (health may lag behind a restart). Learners take reads
    /// only. `None` when none is left.
    pub fn pick(&self, instances: &[Arc<Instance>], write: bool, tried: &[usize]) -> Option<Pick> {
        let now = Instant::now();
        let take = |index: usize| {
            let instance = &instances[index];
            instance.try_acquire(now).map(|permit| Pick {
                index,
                instance: instance.clone(),
                permit,
            })
        };
        if write {
            if let Some(l) = self.leader_in(instances).filter(|l| !tried.contains(l)) {
                if instances[l].health.is_healthy() && !instances[l].is_learner() {
                    if let Some(p) = take(l) {
                        return Some(p);
                    }
                }
            }
        }
        let n = instances.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for only_healthy in [true, false] {
            for k in 0..n {
                let i = (start + k) % n;
                let inst = &instances[i];
                if tried.contains(&i)
                    || (only_healthy && !inst.health.is_healthy())
                    || (write && inst.is_learner())
                {
                    continue;
                }
                if let Some(p) = take(i) {
                    return Some(p);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confeitaria_types::NodeAddr;

    fn pool() -> Pool {
        let addrs: Vec<String> = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        Pool::new(
            Group::Catalog,
            &addrs,
            &[1, 2, 3],
            Duration::from_secs(1),
            BreakerPolicy::default(),
        )
    }

    fn membership(voters: &[u64], learners: &[u64]) -> Membership {
        let nodes = voters
            .iter()
            .chain(learners)
            .map(|id| {
                let addr = NodeAddr {
                    api_addr: format!("127.0.0.1:{id}"),
                    rpc_addr: format!("127.0.0.1:{}", 100 + id),
                };
                (*id, addr)
            })
            .collect();
        Membership {
            voters: voters.to_vec(),
            learners: learners.to_vec(),
            nodes,
        }
    }

    fn picks(p: &Pool, write: bool, n: usize) -> Vec<usize> {
        let list = p.instances();
        (0..n)
            .map(|_| p.pick(&list, write, &[]).unwrap().index)
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn reads_rotate_over_healthy_instances_and_skip_open_breakers() {
        let p = pool();
        let policy = HealthPolicy::default();
        assert_eq!(picks(&p, false, 6), [0, 1, 2, 0, 1, 2]);
        let list = p.instances();
        for _ in 0..3 {
            list[1].failed(Duration::ZERO, &policy);
        }
        assert!(!list[1].health.is_healthy());
        assert_eq!(list[1].breaker_state(), BreakerState::Open);
        let got = picks(&p, false, 6);
        assert!(!got.contains(&1), "{got:?}");
        // With the others tried, the open breaker still refuses: no request waits on it.
        assert!(p.pick(&list, false, &[0, 2]).is_none());
        tokio::time::advance(BreakerPolicy::default().base_backoff).await;
        let probe = p.pick(&list, false, &[0, 2]).unwrap();
        assert_eq!((probe.index, probe.permit), (1, Permit::Probe));
    }

    #[tokio::test(start_paused = true)]
    async fn writes_go_to_the_leader_first() {
        let p = pool();
        p.set_leader_id(Some(3));
        assert_eq!(picks(&p, true, 3), [2, 2, 2]);
        let list = p.instances();
        let second = p.pick(&list, true, &[2]).unwrap().index;
        assert_ne!(second, 2);
        p.set_leader_id(None);
        assert_eq!(p.leader_in(&list), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_pool_follows_the_membership_and_keeps_the_state_of_who_stays() {
        let p = pool();
        let policy = HealthPolicy::default();
        let before = p.instances();
        before[0].failed(Duration::ZERO, &policy);

        // A learner joins: added, out until probes bring it in, reads only.
        let got = p.follow(&membership(&[1, 2, 3], &[4]), &policy);
        assert_eq!(got.added, ["127.0.0.1:4"]);
        assert!(got.removed.is_empty());
        let after = p.instances();
        assert_eq!(after.len(), 4);
        for i in 0..3 {
            assert!(Arc::ptr_eq(&before[i], &after[i]), "instance {i} replaced");
        }
        let learner = after[3].clone();
        assert_eq!((learner.node_id(), learner.is_learner()), (Some(4), true));
        assert!(!learner.health.is_healthy());
        assert!(!picks(&p, false, 8).contains(&3));
        for _ in 0..policy.successes_to_up {
            learner.probed(None, true, &policy);
        }
        assert!(
            picks(&p, false, 8).contains(&3),
            "a healthy learner takes reads"
        );
        assert!(!picks(&p, true, 8).contains(&3), "never writes");
        p.set_leader_id(Some(4));
        assert!(!picks(&p, true, 8).contains(&3), "not even named leader");

        // The same membership again changes nothing.
        assert_eq!(
            p.follow(&membership(&[1, 2, 3], &[4]), &policy),
            Followed::default()
        );

        // Node 2 is removed and the learner promoted: 2 leaves, the rest keep their state.
        let got = p.follow(&membership(&[1, 3, 4], &[]), &policy);
        assert_eq!(
            (got.added.len(), got.removed),
            (0, vec!["127.0.0.1:2".to_owned()])
        );
        let last = p.instances();
        let ids: Vec<Option<u64>> = last.iter().map(|i| i.node_id()).collect();
        assert_eq!(ids, [Some(1), Some(3), Some(4)]);
        assert!(Arc::ptr_eq(&last[2], &learner) && !learner.is_learner());
        assert!(Arc::ptr_eq(&last[0], &before[0]));

        // An empty membership (a cluster not initialized) changes nothing.
        assert_eq!(
            p.follow(&Membership::default(), &policy),
            Followed::default()
        );
        assert_eq!(p.instances().len(), 3);
    }

    #[test]
    fn a_configured_node_whose_id_is_unknown_stays_until_named_elsewhere() {
        let p = Pool::new(
            Group::Catalog,
            &["localhost:1".to_owned(), "127.0.0.1:2".to_owned()],
            &[],
            Duration::from_secs(1),
            BreakerPolicy::default(),
        );
        let policy = HealthPolicy::default();
        let got = p.follow(&membership(&[1, 2], &[]), &policy);
        // 127.0.0.1:2 is member 2 by its address; localhost:1 is not known yet, so member 1
        // is added under its own address beside it.
        assert_eq!(got.added, ["127.0.0.1:1"]);
        let list = p.instances();
        assert_eq!(list[1].node_id(), Some(2));
        // Once its probe says it is node 1, the configured one stays and the copy leaves.
        list[0].probed(Some(status(1)), true, &policy);
        let got = p.follow(&membership(&[1, 2], &[]), &policy);
        assert_eq!(got.removed, ["127.0.0.1:1"]);
        let addrs: Vec<String> = p.instances().iter().map(|i| i.addr.clone()).collect();
        assert_eq!(addrs, ["localhost:1", "127.0.0.1:2"]);
    }

    fn status(id: u64) -> ClusterStatus {
        ClusterStatus {
            id,
            role: confeitaria_types::Role::Follower,
            term: 1,
            leader: None,
            leader_api_addr: None,
            commit_index: None,
            applied_index: None,
            last_log_index: None,
            membership: Membership::default(),
            last_contact_ms: Default::default(),
        }
    }
}
