//! Operational endpoints: `/health`, `/ready`, `/metrics`, `/openapi.json`, and the JSON
//! answers for unknown routes and methods.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use crate::error::CartError;
use crate::AppState;

/// `GET /health`: the process is alive and serving HTTP.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /ready`: the cart store answers a ping within its deadline (503 otherwise). The body
/// also says what the order-event consumer is doing (`events`), which does not decide
/// readiness: carts are served whether or not confirmations arrive.
pub async fn ready(State(st): State<AppState>) -> Result<Json<Value>, CartError> {
    st.store.ping().await?;
    Ok(Json(json!({
        "status": "ready",
        "store": st.store.kind(),
        "events": st.eventos.get().as_str(),
    })))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(),
    )
}

/// `GET /openapi.json`.
pub async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

/// Any path the router does not know.
pub async fn not_found() -> CartError {
    CartError::RouteNotFound
}

/// A known path with a method it does not take.
pub async fn method_not_allowed() -> CartError {
    CartError::MethodNotAllowed
}
