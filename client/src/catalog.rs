//! [`CatalogClient`]: typed calls to the catalog across its nodes.
//!
//! Writes go first to the node believed to lead (learned from `X-Raft-Leader` and
//! `/cluster/status`), so the follower's forwarding hop is only a fallback; reads go to any
//! node. A node that refuses connections is skipped. Safe calls (reads, idempotent writes)
//! are retried with exponential backoff and jitter under one overall deadline; a write that is
//! not idempotent is sent again only when it certainly never left.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confeitaria_types::{
    ClusterStatus, Doce, ErrorBody, EstoqueDetalhe, NovaReserva, PaginaDoces, Reserva,
};
use http::{Method, StatusCode};
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;

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
    fn query(self) -> &'static str {
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
    },
    /// The request was refused as malformed (400, 413, 422).
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

/// Per-call policy.
#[derive(Debug, Clone, Copy)]
pub struct CallPolicy {
    /// Overall deadline for the call, retries included.
    pub deadline: Duration,
    /// Deadline of one attempt.
    pub attempt: Duration,
    /// First backoff; doubles each retry, with jitter.
    pub backoff: Duration,
}

impl Default for CallPolicy {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(5),
            attempt: Duration::from_secs(2),
            backoff: Duration::from_millis(20),
        }
    }
}

#[derive(Debug, Default)]
struct Topology {
    /// Node id to API address, learned from `/cluster/status`.
    addrs: BTreeMap<u64, String>,
    leader: Option<u64>,
    /// Round-robin cursor for reads.
    next: usize,
}

/// A client of the catalog cluster. Cheap to clone; clones share what they learned.
#[derive(Debug, Clone)]
pub struct CatalogClient<C = HttpConnector> {
    transport: Transport<C>,
    seeds: Arc<Vec<String>>,
    token: Option<Arc<str>>,
    policy: CallPolicy,
    // A std mutex: held only to read or update the map, never across an `.await`.
    topo: Arc<Mutex<Topology>>,
}

impl CatalogClient<HttpConnector> {
    /// A client over plain TCP for nodes at `api_addrs` (`host:port`).
    pub fn new(api_addrs: Vec<String>) -> Self {
        Self::with_transport(api_addrs, Transport::http())
    }
}

fn to_error(resp: &Response) -> ClientError {
    let body: Option<ErrorBody> = serde_json::from_slice(&resp.body).ok();
    let (code, message) = body
        .map(|b| (b.error.code, b.error.message))
        .unwrap_or_else(|| (resp.status.as_str().to_owned(), String::new()));
    match resp.status {
        StatusCode::NOT_FOUND => ClientError::NotFound,
        StatusCode::CONFLICT => ClientError::Conflict { code, message },
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
        Self {
            transport,
            seeds: Arc::new(api_addrs),
            token: None,
            policy: CallPolicy::default(),
            topo: Arc::default(),
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

    fn topo(&self) -> std::sync::MutexGuard<'_, Topology> {
        self.topo.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Candidate addresses in the order to try: the leader first for writes, round-robin
    /// for reads; then every other known address.
    fn candidates(&self, leader_first: bool) -> Vec<String> {
        let mut t = self.topo();
        let mut all: Vec<String> = self.seeds.iter().cloned().collect();
        for a in t.addrs.values() {
            if !all.contains(a) {
                all.push(a.clone());
            }
        }
        if all.is_empty() {
            return all;
        }
        let first = if leader_first {
            t.leader
                .and_then(|l| t.addrs.get(&l))
                .and_then(|a| all.iter().position(|x| x == a))
                .unwrap_or(0)
        } else {
            t.next = t.next.wrapping_add(1);
            t.next % all.len()
        };
        all.rotate_left(first);
        all
    }

    fn learn(&self, resp: &Response) {
        if let Some(l) = resp.header("x-raft-leader").and_then(|v| v.parse().ok()) {
            self.topo().leader = Some(l);
        }
    }

    /// Learns node addresses and the leader from one node's `/cluster/status`.
    pub async fn refresh(&self) -> Result<ClusterStatus, ClientError> {
        let resp = self
            .call(Method::GET, "/cluster/status", None, true, false)
            .await?;
        let st: ClusterStatus = decode(&resp)?;
        let mut t = self.topo();
        t.addrs = st
            .membership
            .nodes
            .iter()
            .map(|(id, n)| (*id, n.api_addr.clone()))
            .collect();
        t.leader = st.leader;
        Ok(st)
    }

    /// The status document of the node at `api_addr`.
    pub async fn node_status(&self, api_addr: &str) -> Result<ClusterStatus, ClientError> {
        let resp = self
            .attempt(
                api_addr,
                Method::GET,
                "/cluster/status",
                None,
                self.policy.attempt,
            )
            .await
            .map_err(|e| ClientError::Unavailable(e.to_string()))?;
        decode(&resp)
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

    /// Sends a call, retrying what is safe to retry until the overall deadline.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        retry_safe: bool,
        leader_first: bool,
    ) -> Result<Response, ClientError> {
        let start = Instant::now();
        let end = start + self.policy.deadline;
        let mut backoff = self.policy.backoff;
        let mut last = String::from("no node address configured");
        loop {
            for addr in self.candidates(leader_first) {
                let now = Instant::now();
                if now >= end {
                    return Err(ClientError::Unavailable(last));
                }
                let budget = self.policy.attempt.min(end - now);
                match self
                    .attempt(&addr, method.clone(), path, body.clone(), budget)
                    .await
                {
                    Ok(resp) => {
                        self.learn(&resp);
                        if resp.status.is_success() {
                            return Ok(resp);
                        }
                        let err = to_error(&resp);
                        let transient = resp.status == StatusCode::SERVICE_UNAVAILABLE;
                        if !(transient && retry_safe) {
                            return Err(err);
                        }
                        last = err.to_string();
                        break; // back off before asking again
                    }
                    Err(e) if e.never_sent() => {
                        last = e.to_string();
                        continue; // next node right away
                    }
                    Err(e) => {
                        if !retry_safe {
                            return Err(ClientError::Unavailable(format!("outcome unknown: {e}")));
                        }
                        last = e.to_string();
                    }
                }
            }
            let jitter = rand::thread_rng().gen_range(0..=backoff.as_millis() as u64);
            let pause =
                (backoff + Duration::from_millis(jitter)).min(end - Instant::now().min(end));
            if pause.is_zero() {
                return Err(ClientError::Unavailable(last));
            }
            tokio::time::sleep(pause).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        decode(&self.call(Method::GET, path, None, true, false).await?)
    }

    async fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
        idempotent: bool,
    ) -> Result<T, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::BadRequest {
            code: "encode".into(),
            message: e.to_string(),
        })?;
        decode(
            &self
                .call(method, path, Some(bytes), idempotent, true)
                .await?,
        )
    }

    /// `GET /api/produtos/{id}`.
    pub async fn doce(&self, id: u64, consistency: Consistency) -> Result<Doce, ClientError> {
        self.get(&format!(
            "/api/produtos/{id}?consistency={}",
            consistency.query()
        ))
        .await
    }

    /// `GET /api/produtos`.
    pub async fn produtos(
        &self,
        limit: u64,
        offset: u64,
        consistency: Consistency,
    ) -> Result<PaginaDoces, ClientError> {
        self.get(&format!(
            "/api/produtos?limit={limit}&offset={offset}&consistency={}",
            consistency.query()
        ))
        .await
    }

    /// `GET /api/produtos/{id}/estoque`: the three counters.
    pub async fn estoque(
        &self,
        id: u64,
        consistency: Consistency,
    ) -> Result<EstoqueDetalhe, ClientError> {
        self.get(&format!(
            "/api/produtos/{id}/estoque?consistency={}",
            consistency.query()
        ))
        .await
    }

    /// `PUT /api/produtos/{id}/estoque {"estoque": n}` (admin). Idempotent.
    pub async fn set_estoque(&self, id: u64, estoque: u64) -> Result<Doce, ClientError> {
        let body = serde_json::json!({ "estoque": estoque });
        self.send_json(
            Method::PUT,
            &format!("/api/produtos/{id}/estoque"),
            &body,
            true,
        )
        .await
    }

    /// `PUT /api/produtos/{id}/estoque {"delta": d}` (admin). Not idempotent: never resent
    /// once it may have arrived.
    pub async fn adjust_estoque(&self, id: u64, delta: i64) -> Result<Doce, ClientError> {
        let body = serde_json::json!({ "delta": delta });
        self.send_json(
            Method::PUT,
            &format!("/api/produtos/{id}/estoque"),
            &body,
            false,
        )
        .await
    }

    /// `POST /api/reservas` (service). Idempotent by reservation id.
    pub async fn reservar(&self, reserva: &NovaReserva) -> Result<Reserva, ClientError> {
        self.send_json(Method::POST, "/api/reservas", reserva, true)
            .await
    }

    /// `POST /api/reservas/{id}/confirmar` (service). Idempotent.
    pub async fn confirmar(&self, id: &str) -> Result<Reserva, ClientError> {
        decode(
            &self
                .call(
                    Method::POST,
                    &format!("/api/reservas/{id}/confirmar"),
                    None,
                    true,
                    true,
                )
                .await?,
        )
    }

    /// `DELETE /api/reservas/{id}` (service). Idempotent.
    pub async fn liberar(&self, id: &str) -> Result<Reserva, ClientError> {
        decode(
            &self
                .call(
                    Method::DELETE,
                    &format!("/api/reservas/{id}"),
                    None,
                    true,
                    true,
                )
                .await?,
        )
    }
}

fn decode<T: DeserializeOwned>(resp: &Response) -> Result<T, ClientError> {
    serde_json::from_slice(&resp.body)
        .map_err(|e| ClientError::Unavailable(format!("undecodable response: {e}")))
}
