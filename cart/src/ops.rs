//! The cart's operational side: `GET /ready`, and what the shared router tail
//! ([`confeitaria_service::http`]) asks of the cart: its deadline, its metrics and its API
//! document.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use confeitaria_service::http::ServiceState;
use confeitaria_service::metrics::ServiceMetrics;
use serde_json::{json, Value};

use crate::error::CartError;
use crate::AppState;

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

impl ServiceState for AppState {
    type Error = CartError;

    fn request_timeout(&self) -> Duration {
        self.limits.request_timeout
    }

    fn metrics(&self) -> &ServiceMetrics {
        &self.metrics.service
    }

    fn openapi() -> Value {
        crate::openapi::document()
    }
}
