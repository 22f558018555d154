//! The orders' operational side: `GET /ready`, and what the shared router tail
//! ([`confeitaria_service::http`]) asks of orders: the deadline, counters, metrics text and
//! API document.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use confeitaria_service::http::ServiceState;
use serde_json::{json, Value};

use crate::error::OrdersError;
use crate::AppState;

/// Deadline of the readiness probe of the catalog.
const READY_DEADLINE: Duration = Duration::from_millis(1500);

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
        "delivery": st.publicacao.destino(),
        "outbox_pending": st.saga.store.outbox_len(),
    })))
}

impl ServiceState for AppState {
    type Error = OrdersError;

    fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Counted by method, route and status (orders keep no durations).
    fn record_request(&self, method: &str, route: &str, status: u16, _took: Duration) {
        self.saga.metrics.record_request(method, route, status);
    }

    fn metrics_text(&self) -> String {
        let abertos = self.saga.store.abertos().map(|a| a.len()).unwrap_or(0);
        self.saga.metrics.render(
            self.saga.store.outbox_len(),
            self.saga.store.pedidos_len(),
            abertos,
        )
    }

    fn openapi() -> Value {
        crate::openapi::document()
    }
}
