//! The internal RPC port: Raft messages between nodes, writes and read-index requests
//! forwarded from followers and learners to the leader, joins and membership questions. Every request carries the cluster secret, compared
//! in constant time; anything else is refused before it is parsed.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use confeitaria_client::config::Secret;
use confeitaria_client::transport::{HttpSend, TransportError};
use confeitaria_types::NovoMembro;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use raft_store::{Command, CommandResult, NodeId, TypeConfig};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::membership::JoinResponse;
use crate::raft_node::CatalogNode;

/// Header carrying the cluster secret.
pub const SECRET_HEADER: &str = "x-cluster-secret";
/// Largest RPC body (a batch of log entries or a snapshot chunk).
pub const MAX_RPC_BODY: usize = 64 * 1024 * 1024;

/// What a follower asks the leader to do on its behalf.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardRequest {
    /// Propose a catalog command.
    Write(Command),
    /// Add a node as a voter or a learner.
    AddMember(NovoMembro),
    /// Remove a node from the membership.
    RemoveMember(NodeId),
}

/// The leader's answer to a forwarded request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardResponse {
    /// The command was committed and applied; its result.
    Applied(CommandResult),
    /// The membership change was committed.
    MembershipChanged,
    /// The receiver is not the leader (any more); the leader it knows of, if any.
    NotLeader(Option<NodeId>),
    /// The leader could not complete the request.
    Failed(String),
    /// The leader refused the membership change as unsafe, and why.
    Refused(String),
    /// The node to remove is not a member.
    UnknownMember(NodeId),
}

/// The leader's answer to a read-index request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ReadIndexResponse {
    /// Apply up to this index, then read locally.
    Index(Option<u64>),
    /// The receiver is not the leader.
    NotLeader(Option<NodeId>),
}

/// A node's answer to `/raft/log-state`: the id of the last entry of its log.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct LogPosition {
    /// The last log id, `None` for an empty log.
    pub last_log_id: Option<openraft::LogId<NodeId>>,
}

/// Why an RPC failed, from the caller's side.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The request never reached the peer.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The request may have reached the peer; the outcome is unknown.
    #[error("no answer: {0}")]
    NoAnswer(String),
    /// The peer answered with an error status.
    #[error("peer answered {0}")]
    Status(StatusCode),
}

/// Client side of the RPC port: an HTTP transport plus the secret.
#[derive(Debug, Clone)]
pub struct RpcClient {
    http: Arc<dyn HttpSend>,
    secret: Secret,
}

impl RpcClient {
    /// A client sending through `http` with `secret`.
    pub fn new(http: Arc<dyn HttpSend>, secret: Secret) -> Self {
        Self { http, secret }
    }

    /// POSTs `req` as JSON to `http://{addr}{path}` and decodes the answer, within `deadline`.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        req: &Req,
        deadline: Duration,
    ) -> Result<Resp, RpcError> {
        self.call_on(false, addr, path, req, deadline).await
    }

    /// [`RpcClient::call`] on a connection of its own (see [`HttpSend::send_fresh`]), so
    /// that [`RpcError::Unreachable`] means the peer's port refused the connection.
    pub async fn call_fresh<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        req: &Req,
        deadline: Duration,
    ) -> Result<Resp, RpcError> {
        self.call_on(true, addr, path, req, deadline).await
    }

    async fn call_on<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        fresh: bool,
        addr: &str,
        path: &str,
        req: &Req,
        deadline: Duration,
    ) -> Result<Resp, RpcError> {
        let body = serde_json::to_vec(req).map_err(|e| RpcError::Unreachable(e.to_string()))?;
        let secret = String::from_utf8_lossy(self.secret.expose()).into_owned();
        let url = format!("http://{addr}{path}");
        let headers = vec![(SECRET_HEADER.to_owned(), secret)];
        let send = if fresh {
            self.http
                .send_fresh(Method::POST, url, headers, Some(body), deadline)
        } else {
            self.http
                .send_owned(Method::POST, url, headers, Some(body), deadline)
        };
        let resp = send.await.map_err(|e| match e {
            TransportError::Connect(_) | TransportError::Build(_) => {
                RpcError::Unreachable(e.to_string())
            }
            _ => RpcError::NoAnswer(e.to_string()),
        })?;
        if !resp.status.is_success() {
            return Err(RpcError::Status(resp.status));
        }
        serde_json::from_slice(&resp.body).map_err(|e| RpcError::NoAnswer(e.to_string()))
    }
}

async fn require_secret(
    State(node): State<Arc<CatalogNode>>,
    req: Request,
    next: Next,
) -> Response {
    let given = req
        .headers()
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let ok: bool = given.ct_eq(node.settings.cluster_secret.expose()).into();
    if !ok {
        return (StatusCode::UNAUTHORIZED, "cluster secret required").into_response();
    }
    next.run(req).await
}

fn json<T: Serialize>(v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(b) => ([(axum::http::header::CONTENT_TYPE, "application/json")], b).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Option<T> {
    serde_json::from_slice(body).ok()
}

fn bad_body() -> Response {
    (StatusCode::BAD_REQUEST, "bad rpc body").into_response()
}

async fn append(State(node): State<Arc<CatalogNode>>, body: Bytes) -> Response {
    match parse::<AppendEntriesRequest<TypeConfig>>(&body) {
        Some(req) => {
            node.contacts
                .touch(req.vote.leader_id().voted_for().unwrap_or_default());
            json(&node.raft.append_entries(req).await)
        }
        None => bad_body(),
    }
}

async fn vote(State(node): State<Arc<CatalogNode>>, body: Bytes) -> Response {
    match parse::<VoteRequest<NodeId>>(&body) {
        Some(req) => json(&node.raft.vote(req).await),
        None => bad_body(),
    }
}

async fn snapshot(State(node): State<Arc<CatalogNode>>, body: Bytes) -> Response {
    match parse::<InstallSnapshotRequest<TypeConfig>>(&body) {
        Some(req) => json(&node.raft.install_snapshot(req).await),
        None => bad_body(),
    }
}

async fn forward(State(node): State<Arc<CatalogNode>>, body: Bytes) -> Response {
    match parse::<ForwardRequest>(&body) {
        Some(req) => json(&node.serve_forwarded(req).await),
        None => bad_body(),
    }
}

async fn join(State(node): State<Arc<CatalogNode>>, body: Bytes) -> Response {
    let Some(m) = parse::<NovoMembro>(&body) else {
        return bad_body();
    };
    let answer = match node.change_members(ForwardRequest::AddMember(m)).await {
        Ok(()) => JoinResponse::Joined,
        Err(e) => JoinResponse::Failed(e.to_string()),
    };
    json(&answer)
}

async fn membership(State(node): State<Arc<CatalogNode>>) -> Response {
    json(&node.newest_membership())
}

async fn read_index(State(node): State<Arc<CatalogNode>>) -> Response {
    json(&node.serve_read_index().await)
}

async fn log_state(State(node): State<Arc<CatalogNode>>) -> Response {
    json(&LogPosition {
        last_log_id: node.last_log_id().await,
    })
}

/// The RPC router.
pub fn router(node: Arc<CatalogNode>) -> Router {
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/raft/forward", post(forward))
        .route("/raft/read-index", post(read_index))
        .route("/raft/log-state", post(log_state))
        .route("/raft/join", post(join))
        .route("/raft/membership", post(membership))
        .layer(DefaultBodyLimit::max(MAX_RPC_BODY))
        .layer(middleware::from_fn_with_state(node.clone(), require_secret))
        .with_state(node)
}
