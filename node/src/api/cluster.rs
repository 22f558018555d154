//! Cluster and operations handlers: status, membership and readiness.

use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use confeitaria_types::schema::NoId;
use confeitaria_types::{ClusterStatus, ErrorBody, Members, NovoMembro};

use super::extract::{Admin, Body, PathParam};
use super::AppState;
use crate::error::ApiError;
use crate::rpc::wire::ForwardRequest;

/// `GET /cluster/status`.
#[utoipa::path(
    get,
    path = "/cluster/status",
    summary = "This node's view of the cluster",
    responses((status = 200, description = "Role, term, indexes and membership", body = ClusterStatus))
)]
pub async fn status(State(state): State<AppState>) -> Response {
    Json(state.node.status()).into_response()
}

/// `GET /cluster/members`: voters, learners and their addresses — the newest membership this
/// node knows, so a removed node names the members to ask instead.
#[utoipa::path(
    get,
    path = "/cluster/members",
    summary = "Voters, learners and their addresses: the newest membership this node knows",
    responses((status = 200, description = "The membership", body = Members))
)]
pub async fn members(State(state): State<AppState>) -> Response {
    let node = &state.node;
    let membership = node.newest_membership().membership;
    Json(Members {
        id: node.id(),
        leader: node.leader(),
        member: membership.contains(node.id()),
        membership,
    })
    .into_response()
}

/// `POST /cluster/members` (admin): adds a node with `role` `voter` (the default: added as a
/// learner, promoted once it has caught up, if the strict reconfiguration check allows) or
/// `learner` (replicates and serves reads, never votes).
#[utoipa::path(
    post,
    path = "/cluster/members",
    summary = "Add a node as voter or learner (admin)",
    security(("admin" = [])),
    request_body = NovoMembro,
    responses(
        (status = 200, description = "This node's status after the change", body = ClusterStatus),
        (status = 400, description = "invalid_field (id zero or an address missing), malformed_json or unsupported_media_type", body = ErrorBody),
        (status = 401, description = "unauthorized: no valid bearer token", body = ErrorBody),
        (status = 403, description = "forbidden: the token is not an admin's", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 409, description = "unsafe_reconfiguration or a membership change already under way", body = ErrorBody),
    )
)]
pub async fn add_member(
    State(state): State<AppState>,
    _: Admin,
    Body(m): Body<NovoMembro>,
) -> Result<Response, ApiError> {
    if m.id == 0 || m.api_addr.is_empty() || m.rpc_addr.is_empty() {
        return Err(ApiError::invalid(
            "id must be non-zero and both addresses given",
        ));
    }
    state.node.add_member(m).await?;
    Ok(Json(state.node.status()).into_response())
}

/// `DELETE /cluster/members/{id}` (admin): removes a learner, or a voter if the voters left
/// in contact with the leader still form a quorum (409 `unsafe_reconfiguration` otherwise).
#[utoipa::path(
    delete,
    path = "/cluster/members/{id}",
    summary = "Remove a learner, or a voter if the voters left in contact with the leader still form a quorum (409 unsafe_reconfiguration otherwise) (admin)",
    security(("admin" = [])),
    params(("id" = NoId, Path, description = "the node to remove")),
    responses(
        (status = 200, description = "This node's status after the change", body = ClusterStatus),
        (status = 400, description = "invalid_path: not a node id", body = ErrorBody),
        (status = 401, description = "unauthorized: no valid bearer token", body = ErrorBody),
        (status = 403, description = "forbidden: the token is not an admin's", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 409, description = "unsafe_reconfiguration or a membership change already under way", body = ErrorBody),
    )
)]
pub async fn remove_member(
    State(state): State<AppState>,
    _: Admin,
    PathParam(id): PathParam<u64>,
) -> Result<Response, ApiError> {
    state
        .node
        .change_members(ForwardRequest::RemoveMember(id))
        .await?;
    Ok(Json(state.node.status()).into_response())
}

/// `GET /ready`: a leader is known and this node has applied everything a quorum confirmed.
pub async fn ready(State(state): State<AppState>) -> Response {
    let check =
        tokio::time::timeout(Duration::from_secs(1), state.node.linearizable_barrier()).await;
    match check {
        Ok(Ok(())) => Json(serde_json::json!({"status": "ready"})).into_response(),
        _ => ApiError::Unavailable("not ready: no leader or not caught up".into()).into_response(),
    }
}
