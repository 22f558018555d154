//! Cluster and operations handlers: status, membership, health, readiness, metrics, OpenAPI.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use confeitaria_types::NovoMembro;

use super::extract::{Admin, Body, PathParam};
use super::AppState;
use crate::error::ApiError;
use crate::rpc::ForwardRequest;

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// `GET /cluster/status`.
pub async fn status(State(state): State<AppState>) -> Response {
    Json(state.node.status()).into_response()
}

/// `POST /cluster/members` (admin): adds a node as learner, then as voter.
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

/// `DELETE /cluster/members/{id}` (admin).
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

/// `GET /health`: the process is up.
pub async fn health() -> Response {
    Json(serde_json::json!({"status": "ok"})).into_response()
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

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(&state.node);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
        .into_response()
}

/// `GET /openapi.json`.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
