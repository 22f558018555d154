//! The cart's operational side: `GET /ready`, and what the shared router tail
//! ([`confeitaria_service::http`]) asks of the cart: its deadline, counters, metrics text and
//! API document.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use confeitaria_service::http::ServiceState;
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

    fn record_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.metrics.record_request(method, route, status, took);
    }

    fn metrics_text(&self) -> String {
        self.metrics.render()
    }

    fn openapi() -> Value {
        crate::openapi::document()
    }
}
