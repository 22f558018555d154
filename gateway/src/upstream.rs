//! The upstreams: a [`Pool`] per service (the catalog's nodes, the cart, orders), each
//! [`Instance`] with its health, breaker, request window and — for catalog nodes — the last
//! `/cluster/status` it gave. [`Pool::pick`] chooses where a request goes.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confeitaria_types::ClusterStatus;
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
    /// Active and passive health.
    pub health: Health,
    // std mutexes below: a few field updates each, never held across an `.await`.
    breaker: Mutex<Breaker>,
    window: Mutex<Window>,
    view: Mutex<NodeView>,
}

impl Instance {
    fn new(group: Group, addr: &str, node_id: Option<u64>, breaker: BreakerPolicy) -> Self {
        let addr = addr
            .trim()
            .trim_start_matches("http://")
            .trim_end_matches('/');
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

/// The instances of one service.
#[derive(Debug)]
pub struct Pool {
    /// Which service.
    pub group: Group,
    /// Its instances, in configuration order.
    pub instances: Vec<Arc<Instance>>,
    /// Deadline of one attempt at one instance.
    pub timeout: Duration,
    next: AtomicUsize,
    /// Index of the instance the cluster names leader, plus one (0: unknown).
    leader: AtomicUsize,
}

/// Where [`Pool::pick`] sends the next attempt.
#[derive(Debug, Clone)]
pub struct Pick {
    /// Index in [`Pool::instances`].
    pub index: usize,
    /// The instance.
    pub instance: Arc<Instance>,
    /// Normal or half-open probe.
    pub permit: Permit,
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
            instances,
            timeout,
            next: AtomicUsize::new(0),
            leader: AtomicUsize::new(0),
        }
    }

    /// The instance the cluster names leader, if known.
    pub fn leader(&self) -> Option<usize> {
        self.leader.load(Ordering::Relaxed).checked_sub(1)
    }

    /// Remembers the leader by catalog node id (from `X-Raft-Leader` or a status).
    pub fn set_leader_id(&self, id: Option<u64>) {
        let i = id.and_then(|id| self.instances.iter().position(|s| s.node_id() == Some(id)));
        self.leader.store(i.map_or(0, |i| i + 1), Ordering::Relaxed);
    }

    /// Chooses an instance not in `tried`: for a catalog write, the leader first; otherwise
    /// (and after it) round-robin over the healthy instances whose breaker lets a request
    /// through, then over any instance whose breaker does (health may lag behind a restart).
    /// `None` when none is left.
    pub fn pick(&self, write: bool, tried: &[usize]) -> Option<Pick> {
        let now = Instant::now();
        let take = |index: usize| {
            let instance = &self.instances[index];
            instance.try_acquire(now).map(|permit| Pick {
                index,
                instance: instance.clone(),
                permit,
            })
        };
        if write {
            if let Some(l) = self.leader().filter(|l| !tried.contains(l)) {
                if self.instances[l].health.is_healthy() {
                    if let Some(p) = take(l) {
                        return Some(p);
                    }
                }
            }
        }
        let n = self.instances.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for only_healthy in [true, false] {
            for k in 0..n {
                let i = (start + k) % n;
                if tried.contains(&i) || (only_healthy && !self.instances[i].health.is_healthy()) {
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

    #[tokio::test(start_paused = true)]
    async fn reads_rotate_over_healthy_instances_and_skip_open_breakers() {
        let p = pool();
        let policy = HealthPolicy::default();
        let firsts: Vec<usize> = (0..6).map(|_| p.pick(false, &[]).unwrap().index).collect();
        assert_eq!(firsts, [0, 1, 2, 0, 1, 2]);
        for _ in 0..3 {
            p.instances[1].failed(Duration::ZERO, &policy);
        }
        assert!(!p.instances[1].health.is_healthy());
        assert_eq!(p.instances[1].breaker_state(), BreakerState::Open);
        let picks: Vec<usize> = (0..6).map(|_| p.pick(false, &[]).unwrap().index).collect();
        assert!(!picks.contains(&1), "{picks:?}");
        // With the others tried, the open breaker still refuses: no request waits on it.
        assert!(p.pick(false, &[0, 2]).is_none());
        tokio::time::advance(BreakerPolicy::default().base_backoff).await;
        let probe = p.pick(false, &[0, 2]).unwrap();
        assert_eq!((probe.index, probe.permit), (1, Permit::Probe));
    }

    #[tokio::test(start_paused = true)]
    async fn writes_go_to_the_leader_first() {
        let p = pool();
        p.set_leader_id(Some(3));
        for _ in 0..3 {
            assert_eq!(p.pick(true, &[]).unwrap().index, 2);
        }
        let second = p.pick(true, &[2]).unwrap().index;
        assert_ne!(second, 2);
        p.set_leader_id(None);
        assert_eq!(p.leader(), None);
    }
}
