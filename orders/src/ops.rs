//! The orders' operational side: `GET /ready`, and what the shared router tail
//! ([`confeitaria_service::http`]) asks of orders: the deadline, the metrics (with the gauges
//! sampled when scraped) and the API document.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use confeitaria_service::http::ServiceState;
use confeitaria_service::metrics::ServiceMetrics;
use prometheus_client::registry::Registry;
use serde_json::{json, Value};

use crate::error::OrdersError;
use crate::metrics::Metrics;
use crate::AppState;

/// Deadline of the readiness probe of the catalog.
const READY_DEADLINE: Duration = Duration::from_millis(1500);

/// `GET /ready`: the catalog has a leader that answers (503 otherwise). Redis is not needed:
/// without it events wait in the outbox; `publishing` says what the publisher is doing
/// (`connected`, `disconnected`, or `disabled` when no Redis URL is configured).
pub async fn ready(State(st): State<AppState>) -> Result<Json<Value>, OrdersError> {
    match tokio::time::timeout(READY_DEADLINE, st.reservations.ready()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(OrdersError::CatalogUnavailable(e)),
        Err(_) => return Err(OrdersError::CatalogUnavailable("probe timed out".into())),
    }
    Ok(Json(json!({
        "status": "ready",
        "catalog": "ok",
        "publishing": st.publishing.get().as_str(),
        "delivery": st.publishing.destination(),
        "outbox_pending": st.saga.store.outbox_len(),
    })))
}

impl ServiceState for AppState {
    type Error = OrdersError;

    fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    fn metrics(&self) -> &ServiceMetrics {
        &self.saga.metrics.service
    }

    fn sample_metrics(&self, now: &mut Registry) {
        let open_steps = self.saga.store.open_steps().map(|a| a.len()).unwrap_or(0);
        Metrics::sample(
            now,
            self.saga.store.outbox_len(),
            self.saga.store.order_count(),
            open_steps,
        );
    }

    fn openapi() -> Value {
        crate::openapi::document()
    }
}
