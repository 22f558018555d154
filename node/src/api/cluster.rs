//! Cluster and operations handlers: status, membership, readiness, and what the shared router
//! tail ([`confeitaria_service::http`]) asks of the node: its deadline, metrics (with the Raft
//! state sampled when scraped) and API document.

use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use confeitaria_service::http::ServiceState;
use confeitaria_service::metrics::ServiceMetrics;
use confeitaria_types::{Members, NovoMembro};
use prometheus_client::registry::Registry;
use serde_json::Value;

use super::extract::{Admin, Body, PathParam};
use super::{AppState, REQUEST_DEADLINE};
use crate::error::ApiError;
use crate::rpc::wire::ForwardRequest;

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// `GET /cluster/status`.
pub async fn status(State(state): State<AppState>) -> Response {
    Json(state.node.status()).into_response()
}

/// `GET /cluster/members`: voters, learners and their addresses — the newest membership this
/// node knows, so a removed node names the members to ask instead.
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

impl ServiceState for AppState {
    type Error = ApiError;

    fn request_timeout(&self) -> Duration {
        REQUEST_DEADLINE
    }

    fn metrics(&self) -> &ServiceMetrics {
        &self.metrics.service
    }

    fn sample_metrics(&self, now: &mut Registry) {
        crate::metrics::sample(now, &self.node);
    }

    fn openapi() -> Value {
        // Checked in and tested to parse (`the_openapi_document_parses`).
        serde_json::from_str(OPENAPI).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_parses() {
        assert!(<AppState as ServiceState>::openapi().is_object());
    }

    /// The document is written by hand: its numeric limits must be the ones the code checks,
    /// or schemathesis (scripts/schemathesis.sh) and clients are told something false.
    #[test]
    fn the_openapi_document_states_the_limits_the_code_checks() {
        use raft_store::command::{
            MAX_ESTOQUE, MAX_ITENS_RESERVA, MAX_PRECO_CENTAVOS, MAX_QUANTIDADE,
        };

        let doc = <AppState as ServiceState>::openapi();
        let s = &doc["components"]["schemas"];
        let list = doc["paths"]["/api/produtos"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let param = |name: &str| &list.iter().find(|p| p["name"] == name).unwrap()["schema"];
        let checks = [
            (&param("limit")["maximum"], super::super::catalog::MAX_LIMIT),
            (
                &param("offset")["maximum"],
                super::super::catalog::MAX_OFFSET,
            ),
            (
                &s["NovoDoce"]["properties"]["preco_centavos"]["maximum"],
                MAX_PRECO_CENTAVOS,
            ),
            (
                &s["AtualizaDoce"]["properties"]["preco_centavos"]["maximum"],
                MAX_PRECO_CENTAVOS,
            ),
            (
                &s["NovoDoce"]["properties"]["estoque"]["maximum"],
                MAX_ESTOQUE,
            ),
            (
                &s["EstoqueUpdate"]["properties"]["estoque"]["maximum"],
                MAX_ESTOQUE,
            ),
            (
                &s["EstoqueUpdate"]["properties"]["delta"]["maximum"],
                MAX_ESTOQUE,
            ),
            (
                &s["ItemReserva"]["properties"]["quantidade"]["maximum"],
                MAX_QUANTIDADE,
            ),
            (
                &s["NovaReserva"]["properties"]["itens"]["maxItems"],
                MAX_ITENS_RESERVA as u64,
            ),
        ];
        for (i, (stated, checked)) in checks.iter().enumerate() {
            assert_eq!(
                stated.as_u64(),
                Some(*checked),
                "limit {i} of the document: {stated}"
            );
        }
    }
}
