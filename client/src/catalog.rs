//! [`CatalogClient`]: the catalog cluster seen as one service.
//!
//! - **Routing.** Writes (and linearizable reads) go first to the node believed to lead,
//!   learned from `/cluster/status` and every response's `X-Raft-Leader`, so a follower's
//!   forwarding hop is only a fallback; local reads are spread round-robin over the nodes.
//! - **Retries.** Safe calls — reads, and writes that are idempotent (set stock, reservations
//!   by id, updates) — are retried on another node, or after an exponential backoff with
//!   jitter, until one overall deadline per call. A write that is not idempotent (create a
//!   product, adjust stock by a delta) is sent again only when it certainly never left.
//! - **Circuit breaker.** A node that cannot be reached is marked down and skipped, and
//!   probed back with one request once its cool-down has passed ([`crate::breaker`]).
//!
//! The client is generic over its connector (like [`Transport`]), so it runs over plain TCP
//! and inside turmoil simulations alike; its jitter comes from a seedable generator.
//! The typed calls, one per endpoint, are in [`crate::endpoints`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confeitaria_types::{ClusterStatus, ErrorBody};
use http::{Method, StatusCode};
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::breaker::{Breaker, BreakerPolicy, NodeState, Usable};
use crate::transport::{Response, Transport, TransportError};

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consistency {
    /// Confirmed with a quorum through the leader's read index (the default).
    #[default]
    Linearizable,
    /// This node's replica; may be stale.
    Local,
}

impl Consistency {
    /// The value of the `consistency` query parameter.
    pub fn query(self) -> &'static str {
        match self {
            Consistency::Linearizable => "linearizable",
            Consistency::Local => "local",
        }
    }
}

/// What went wrong with a call, in the terms a caller acts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Unknown id (404).
    #[error("not found")]
    NotFound,
    /// The cluster has no leader yet (503 `no_leader`); try again later.
    #[error("no leader yet")]
    NoLeader,
    /// Business conflict (409), e.g. `insufficient_stock`.
    #[error("{code}: {message}")]
    Conflict {
        /// Error code.
        code: String,
        /// Message.
        message: String,
        /// The product the conflict is about (`insufficient_stock`, `inactive_product`).
        doce_id: Option<u64>,
    },
    /// The request was refused as malformed (400, 405, 413, 422).
    #[error("{code}: {message}")]
    BadRequest {
        /// Error code.
        code: String,
        /// Message.
        message: String,
    },
    /// Missing or insufficient credentials (401, 403).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// No node could answer within the deadline, or the outcome is unknown.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl ClientError {
    /// True for errors that may go away by themselves (no leader, unavailable).
    pub fn is_transient(&self) -> bool {
        matches!(self, ClientError::NoLeader | ClientError::Unavailable(_))
    }
}

/// Per-call policy.
#[derive(Debug, Clone, Copy)]
pub struct CallPolicy {
    /// Overall deadline for the call, retries included.
    pub deadline: Duration,
    /// Deadline of one attempt.
    pub attempt: Duration,
    /// First backoff; doubles each retry (up to [`MAX_BACKOFF`]), with jitter.
    pub backoff: Duration,
}

/// Longest pause between two rounds of attempts.
pub const MAX_BACKOFF: Duration = Duration::from_millis(500);

impl Default for CallPolicy {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(5),
            attempt: Duration::from_secs(2),
            backoff: Duration::from_millis(20),
        }
    }
}

/// Where a call should go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// The leader first (writes, linearizable reads), then the others.
    Leader,
    /// Any node, round-robin (local reads).
    Any,
}

/// Whether a call may be sent again after it may have arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Reads and idempotent writes.
    Safe,
    /// Non-idempotent writes: resent only when it certainly never left.
    OnlyIfNeverSent,
}

/// A snapshot of what the client knows about one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// API address (`host:port`).
    pub addr: String,
    /// Node id, once learned from `/cluster/status`.
    pub id: Option<u64>,
    /// Breaker state.
    pub state: NodeState,
    /// Whether the client believes it leads.
    pub leader: bool,
    /// Requests sent to it.
    pub attempts: u64,
    /// Requests it answered (any status).
    pub answers: u64,
    /// Requests that failed at the transport.
    pub failures: u64,
}

#[derive(Debug)]
struct Topology {
    /// Node id to API address, learned from `/cluster/status`.
    addrs: BTreeMap<u64, String>,
    leader: Option<u64>,
    /// Round-robin cursor for reads.
    next: usize,
    /// Breaker per API address.
    nodes: BTreeMap<String, Breaker>,
    rng: StdRng,
}

/// A client of the catalog cluster. Cheap to clone; clones share what they learned.
#[derive(Debug, Clone)]
pub struct CatalogClient<C = HttpConnector> {
    transport: Transport<C>,
    seeds: Arc<Vec<String>>,
    token: Option<Arc<str>>,
    policy: CallPolicy,
    breaker: BreakerPolicy,
    // A std mutex: held only to read or update the topology, never across an `.await`.
    topo: Arc<Mutex<Topology>>,
}

impl CatalogClient<HttpConnector> {
    /// A client over plain TCP for nodes at `api_addrs` (`host:port`); any subset will do,
    /// the others are learned from `/cluster/status`.
    pub fn new(api_addrs: Vec<String>) -> Self {
        Self::with_transport(api_addrs, Transport::http())
    }
}

/// Maps an error response to a [`ClientError`].
pub(crate) fn to_error(resp: &Response) -> ClientError {
    let body: Option<ErrorBody> = serde_json::from_slice(&resp.body).ok();
    let (code, message, doce_id) = body
        .map(|b| (b.error.code, b.error.message, b.error.doce_id))
        .unwrap_or_else(|| (resp.status.as_str().to_owned(), String::new(), None));
    match resp.status {
        StatusCode::NOT_FOUND => ClientError::NotFound,
        StatusCode::CONFLICT => ClientError::Conflict {
            code,
            message,
            doce_id,
        },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ClientError::Unauthorized(message),
        StatusCode::SERVICE_UNAVAILABLE if code == "no_leader" => ClientError::NoLeader,
        s if s.is_client_error() => ClientError::BadRequest { code, message },
        _ => ClientError::Unavailable(format!("{code}: {message}")),
    }
}

impl<C> CatalogClient<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    /// A client for nodes at `api_addrs` over `transport`.
    pub fn with_transport(api_addrs: Vec<String>, transport: Transport<C>) -> Self {
        let breaker = BreakerPolicy::default();
        let nodes = api_addrs
            .iter()
            .map(|a| (a.clone(), Breaker::new(&breaker)))
            .collect();
        Self {
            transport,
            seeds: Arc::new(api_addrs),
            token: None,
            policy: CallPolicy::default(),
            breaker,
            topo: Arc::new(Mutex::new(Topology {
                addrs: BTreeMap::new(),
                leader: None,
                next: 0,
                nodes,
                rng: StdRng::from_entropy(),
            })),
        }
    }

    /// Sends this bearer token (admin or service JWT) with every call.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Arc::from(token.into()));
        self
    }

    /// Replaces the per-call policy (deadlines, backoff).
    pub fn with_policy(mut self, policy: CallPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Replaces the circuit breaker's cool-downs.
    pub fn with_breaker(mut self, breaker: BreakerPolicy) -> Self {
        self.breaker = breaker;
        self
    }

    /// Seeds the jitter generator, so a simulation replays the same retries from its seed.
    pub fn with_seed(self, seed: u64) -> Self {
        self.topo().rng = StdRng::seed_from_u64(seed);
        self
    }

    /// The per-call policy in force.
    pub fn policy(&self) -> CallPolicy {
        self.policy
    }

    fn topo(&self) -> std::sync::MutexGuard<'_, Topology> {
        self.topo.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The leader the client currently believes in, if any.
    pub fn leader(&self) -> Option<u64> {
        self.topo().leader
    }

    /// What the client knows about each node: breaker state and counters.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let t = self.topo();
        t.nodes
            .iter()
            .map(|(addr, b)| {
                let id = t.addrs.iter().find(|(_, a)| *a == addr).map(|(id, _)| *id);
                NodeInfo {
                    addr: addr.clone(),
                    id,
                    state: b.state(),
                    leader: id.is_some() && id == t.leader,
                    attempts: b.attempts,
                    answers: b.answers,
                    failures: b.failures,
                }
            })
            .collect()
    }

    /// Every known address: the seeds first, then those learned from the cluster.
    fn all_addrs(&self, t: &Topology) -> Vec<String> {
        let mut all: Vec<String> = self.seeds.iter().cloned().collect();
        for a in t.addrs.values() {
            if !all.contains(a) {
                all.push(a.clone());
            }
        }
        all
    }

    /// Addresses in the order to try them: the preferred ones (leader, or round-robin), those
    /// the breaker lets through first; then the down ones, as a last resort.
    fn plan(&self, route: Route) -> (Vec<String>, Vec<String>) {
        let mut t = self.topo();
        let mut all = self.all_addrs(&t);
        if all.is_empty() {
            return (all, Vec::new());
        }
        t.next = t.next.wrapping_add(1);
        let n = all.len();
        all.rotate_left(t.next % n);
        if route == Route::Leader {
            if let Some(pos) = t
                .leader
                .and_then(|l| t.addrs.get(&l))
                .and_then(|a| all.iter().position(|x| x == a))
            {
                let leader = all.remove(pos);
                all.insert(0, leader);
            }
        }
        let now = Instant::now();
        let (mut open, mut down) = (Vec::new(), Vec::new());
        for a in all {
            match t
                .nodes
                .get(&a)
                .map(|b| b.usable(now))
                .unwrap_or(Usable::Yes)
            {
                Usable::No => down.push(a),
                Usable::Yes | Usable::Probe => open.push(a),
            }
        }
        (open, down)
    }

    /// Claims `addr` for one attempt: false when it is down and someone else probes it.
    fn claim(&self, addr: &str, last_resort: bool) -> bool {
        let breaker = self.breaker;
        let mut t = self.topo();
        let b = t
            .nodes
            .entry(addr.to_owned())
            .or_insert_with(|| Breaker::new(&breaker));
        let now = Instant::now();
        let ok = match b.usable(now) {
            Usable::Yes => true,
            Usable::Probe => b.claim_probe(now),
            Usable::No => last_resort,
        };
        if ok {
            b.attempts += 1;
        }
        ok
    }

    fn record(&self, addr: &str, outcome: Result<&Response, &TransportError>) {
        let breaker = self.breaker;
        let mut t = self.topo();
        match outcome {
            Ok(resp) => {
                if let Some(l) = resp.header("x-raft-leader").and_then(|v| v.parse().ok()) {
                    t.leader = Some(l);
                }
                if let Some(b) = t.nodes.get_mut(addr) {
                    b.on_answer(&breaker);
                }
            }
            Err(TransportError::Build(_)) => {
                if let Some(b) = t.nodes.get_mut(addr) {
                    b.release_probe();
                }
            }
            Err(_) => {
                if let Some(b) = t.nodes.get_mut(addr) {
                    b.on_failure(&breaker, Instant::now());
                }
                let was_leader = t.leader.and_then(|l| t.addrs.get(&l)).map(String::as_str);
                if was_leader == Some(addr) {
                    t.leader = None;
                }
            }
        }
    }

    /// True when leader-first routing cannot work yet: addresses unknown, or a leader id
    /// learned from a header whose address is not known.
    fn needs_discovery(&self) -> bool {
        let t = self.topo();
        t.addrs.is_empty() || t.leader.is_some_and(|l| !t.addrs.contains_key(&l))
    }

    pub(crate) fn learn_status(&self, st: &ClusterStatus) {
        let breaker = self.breaker;
        let mut t = self.topo();
        t.addrs = st
            .membership
            .nodes
            .iter()
            .map(|(id, n)| (*id, n.api_addr.clone()))
            .collect();
        let learned: Vec<String> = t.addrs.values().cloned().collect();
        for a in learned {
            t.nodes.entry(a).or_insert_with(|| Breaker::new(&breaker));
        }
        if st.leader.is_some() {
            t.leader = st.leader;
        }
    }

    /// Learns node addresses and the leader from one node's `/cluster/status`, and returns
    /// that document. Safe to call at any time; retried like a read.
    pub async fn refresh(&self) -> Result<ClusterStatus, ClientError> {
        let resp = self
            .call(
                Method::GET,
                "/cluster/status",
                None,
                Retry::Safe,
                Route::Any,
            )
            .await?;
        let st: ClusterStatus = decode(&resp)?;
        self.learn_status(&st);
        Ok(st)
    }

    /// The status document of the node at `api_addr`, one attempt, no retry.
    pub async fn node_status(&self, api_addr: &str) -> Result<ClusterStatus, ClientError> {
        let resp = self.send_to(api_addr, "/cluster/status").await?;
        if !resp.status.is_success() {
            return Err(to_error(&resp));
        }
        decode(&resp)
    }

    /// Whether the node at `api_addr` says it is ready (`GET /ready`: it knows a leader and
    /// has applied what a quorum confirmed). One attempt, no retry.
    pub async fn node_ready(&self, api_addr: &str) -> Result<bool, ClientError> {
        let resp = self.send_to(api_addr, "/ready").await?;
        Ok(resp.status.is_success())
    }

    /// Sends one `GET` to the node at `api_addr` (outside the breaker's bookkeeping, so a
    /// monitoring loop does not change where calls go).
    async fn send_to(&self, api_addr: &str, path: &str) -> Result<Response, ClientError> {
        self.attempt(api_addr, Method::GET, path, None, self.policy.attempt)
            .await
            .map_err(|e| ClientError::Unavailable(format!("{api_addr}: {e}")))
    }

    /// Asks every node the breaker holds down whether it is back (`GET /health`), so the
    /// next calls can use it again; returns the addresses found back.
    pub async fn probe_down(&self) -> Vec<String> {
        let down: Vec<String> = {
            let t = self.topo();
            t.nodes
                .iter()
                .filter(|(_, b)| b.state() != NodeState::Up)
                .map(|(a, _)| a.clone())
                .collect()
        };
        let mut back = Vec::new();
        for addr in down {
            let r = self
                .attempt(&addr, Method::GET, "/health", None, self.policy.attempt)
                .await;
            if r.is_ok() {
                back.push(addr.clone());
            }
            self.record(&addr, r.as_ref());
        }
        back
    }

    async fn attempt(
        &self,
        addr: &str,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        deadline: Duration,
    ) -> Result<Response, TransportError> {
        let url = format!("http://{addr}{path}");
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers = Vec::new();
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        self.transport
            .send(method, &url, &headers, body, deadline)
            .await
    }

    /// Fills in the cluster's addresses from any node that answers, within `end`.
    async fn discover(&self, end: Instant) {
        let (open, down) = self.plan(Route::Any);
        for addr in open.into_iter().chain(down) {
            let now = Instant::now();
            if now >= end {
                return;
            }
            let budget = self.policy.attempt.min(end - now) / 2;
            let r = self
                .attempt(&addr, Method::GET, "/cluster/status", None, budget)
                .await;
            self.record(&addr, r.as_ref());
            if let Ok(resp) = r {
                if let Ok(st) = decode::<ClusterStatus>(&resp) {
                    self.learn_status(&st);
                    return;
                }
            }
        }
    }

    /// Sends a call, retrying what `retry` allows until the overall deadline, and returns
    /// the successful response.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        retry: Retry,
        route: Route,
    ) -> Result<Response, ClientError> {
        let end = Instant::now() + self.policy.deadline;
        let mut backoff = self.policy.backoff;
        let mut last = ClientError::Unavailable("no node address configured".into());
        loop {
            if route == Route::Leader && self.needs_discovery() {
                self.discover(end).await;
            }
            let (open, down) = self.plan(route);
            let last_resort = open.is_empty();
            let mut tried = false;
            for addr in if last_resort { down } else { open } {
                let now = Instant::now();
                if now >= end {
                    return Err(last);
                }
                if !self.claim(&addr, last_resort) {
                    continue;
                }
                tried = true;
                let budget = self.policy.attempt.min(end - now);
                let r = self
                    .attempt(&addr, method.clone(), path, body.clone(), budget)
                    .await;
                self.record(&addr, r.as_ref());
                match r {
                    Ok(resp) if resp.status.is_success() => return Ok(resp),
                    Ok(resp) => {
                        let err = to_error(&resp);
                        if !(resp.status.is_server_error() && retry == Retry::Safe) {
                            return Err(err);
                        }
                        tracing::debug!(%addr, error = %err, "retrying after a 5xx");
                        last = err;
                        break; // the cluster is changing: back off before asking again
                    }
                    Err(e) if e.never_sent() => {
                        last = ClientError::Unavailable(format!("{addr}: {e}"));
                    }
                    Err(e) => {
                        if retry == Retry::OnlyIfNeverSent {
                            return Err(ClientError::Unavailable(format!(
                                "{addr}: outcome unknown: {e}"
                            )));
                        }
                        last = ClientError::Unavailable(format!("{addr}: {e}"));
                    }
                }
            }
            if !tried && !last_resort {
                // Every node was being probed by someone else: wait a little, then retry.
                last = ClientError::Unavailable("every node is down".into());
            }
            let now = Instant::now();
            if now >= end {
                return Err(last);
            }
            let jitter = {
                let half = (backoff.as_millis() as u64 / 2).max(1);
                let mut t = self.topo();
                Duration::from_millis(half + t.rng.gen_range(0..=half))
            };
            tokio::time::sleep(jitter.min(end - now)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Decodes a successful response's JSON body.
pub(crate) fn decode<T: DeserializeOwned>(resp: &Response) -> Result<T, ClientError> {
    serde_json::from_slice(&resp.body)
        .map_err(|e| ClientError::Unavailable(format!("undecodable response: {e}")))
}
