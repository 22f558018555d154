//! The server side of the RPC port: Raft messages from the leader, writes and read-index
//! requests forwarded from followers and learners, joins and membership questions. Every
//! request carries the cluster secret, compared in constant time; anything else is refused
//! before it is parsed. Bodies are in the Raft encoding ([`raft_store::codec`]), both ways.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use confeitaria_types::NovoMembro;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use raft_store::{codec, NodeId, TypeConfig};
use serde::de::DeserializeOwned;
use serde::Serialize;
use subtle::ConstantTimeEq;

use super::wire::{route, ForwardRequest, JoinResponse, LogPosition, MAX_RPC_BODY, SECRET_HEADER};
use crate::raft_node::CatalogNode;

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
    let ok: bool = given.ct_eq(node.cluster_secret().expose()).into();
    if !ok {
        return (StatusCode::UNAUTHORIZED, "cluster secret required").into_response();
    }
    next.run(req).await
}

fn encoded<T: Serialize>(v: &T) -> Response {
    match codec::encode(v) {
        Ok(b) => (
            [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
            b,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Option<T> {
    codec::decode(body).ok()
}

fn bad_body() -> Response {
    (StatusCode::BAD_REQUEST, "bad rpc body").into_response()
}

async fn append(State(node): State<Arc<CatalogNode>>, body: Bytes) -> Response {
    match parse::<AppendEntriesRequest<TypeConfig>>(&body) {
        Some(req) => {
            node.contacts()
                .touch(req.vote.leader_id().voted_for().unwrap_or_default());
            encoded(&node.raft().append_entries(req).await)
        }
        None => bad_body(),
    }
}

async fn vote(State(node): State<Arc<CatalogNode>>, body: Bytes) -> Response {
    match parse::<VoteRequest<NodeId>>(&body) {
        Some(req) => encoded(&node.raft().vote(req).await),
        None => bad_body(),
    }
}

async fn snapshot(State(node): State<Arc<CatalogNode>>, body: Bytes) -> Response {
    match parse::<InstallSnapshotRequest<TypeConfig>>(&body) {
        Some(req) => encoded(&node.raft().install_snapshot(req).await),
        None => bad_body(),
    }
}

async fn forward(State(node): State<Arc<CatalogNode>>, body: Bytes) -> Response {
    match parse::<ForwardRequest>(&body) {
        Some(req) => encoded(&node.serve_forwarded(req).await),
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
    encoded(&answer)
}

async fn membership(State(node): State<Arc<CatalogNode>>) -> Response {
    encoded(&node.newest_membership())
}

async fn read_index(State(node): State<Arc<CatalogNode>>) -> Response {
    encoded(&node.serve_read_index().await)
}

async fn log_state(State(node): State<Arc<CatalogNode>>) -> Response {
    encoded(&LogPosition {
        last_log_id: node.last_log_id().await,
    })
}

/// The RPC router.
pub fn router(node: Arc<CatalogNode>) -> Router {
    Router::new()
        .route(route::APPEND, post(append))
        .route(route::VOTE, post(vote))
        .route(route::SNAPSHOT, post(snapshot))
        .route(route::FORWARD, post(forward))
        .route(route::READ_INDEX, post(read_index))
        .route(route::LOG_STATE, post(log_state))
        .route(route::JOIN, post(join))
        .route(route::MEMBERSHIP, post(membership))
        .layer(DefaultBodyLimit::max(MAX_RPC_BODY))
        .layer(middleware::from_fn_with_state(node.clone(), require_secret))
        .with_state(node)
}
