//! Operational endpoints: `/health`, `/ready`, `/metrics`, `/openapi.json`, and the JSON
//! answers for unknown routes and methods.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use crate::error::OrdersError;
use crate::AppState;

/// Deadline of the readiness probe of the catalog.
const READY_DEADLINE: Duration = Duration::from_millis(1500);

/// `GET /health`: the process is alive and serving HTTP.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /ready`: the catalog has a leader that answers (503 otherwise). Redis is not needed:
/// without it events wait in the outbox; `publishing` says what the publisher is doing
/// (`connected`, `disconnected`, or `disabled` when no Redis URL is configured).
pub async fn ready(State(st): State<AppState>) -> Result<Json<Value>, OrdersError> {
    match tokio::time::timeout(READY_DEADLINE, st.reservas.pronto()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(OrdersError::CatalogUnavailable(e)),
        Err(_) => return Err(OrdersError::CatalogUnavailable("probe timed out".into())),
    }
    Ok(Json(json!({
        "status": "ready",
        "catalog": "ok",
        "publishing": st.publicacao.get().as_str(),
        "outbox_pending": st.saga.store.outbox_len(),
    })))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    let abertos = st.saga.store.abertos().map(|a| a.len()).unwrap_or(0);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.saga.metrics.render(
            st.saga.store.outbox_len(),
            st.saga.store.pedidos_len(),
            abertos,
        ),
    )
}

/// `GET /openapi.json`.
pub async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

/// Any path the router does not know.
pub async fn not_found() -> OrdersError {
    OrdersError::RouteNotFound
}

/// A known path with a method it does not take.
pub async fn method_not_allowed() -> OrdersError {
    OrdersError::MethodNotAllowed
}
