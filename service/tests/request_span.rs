//! The request's tracing span carries its request id into every log line a handler writes.
//!
//! Its own test binary, apart from `tests/it` and the unit tests: tracing caches whether a
//! callsite is enabled process-wide, so a log assertion under a thread-local subscriber races
//! any other test that first reaches the same span without one (the span is then cached as
//! disabled for everybody). Here one global subscriber is installed before any span exists.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use confeitaria_service::http::{finish, Refusal, ServiceState};
use confeitaria_service::metrics::ServiceMetrics;
use serde_json::{json, Value};
use tower::ServiceExt;

#[derive(Clone)]
struct Probe(Arc<ServiceMetrics>);

struct ProbeError;

impl From<Refusal> for ProbeError {
    fn from(_: Refusal) -> Self {
        Self
    }
}

impl IntoResponse for ProbeError {
    fn into_response(self) -> Response {
        axum::http::StatusCode::NOT_FOUND.into_response()
    }
}

impl ServiceState for Probe {
    type Error = ProbeError;
    fn request_timeout(&self) -> Duration {
        Duration::from_secs(5)
    }
    fn metrics(&self) -> &ServiceMetrics {
        &self.0
    }
    fn openapi() -> Value {
        json!({})
    }
}

/// Log lines written so far.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_handler_s_log_line_carries_the_request_id() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let routes = Router::new().route(
        "/logged",
        get(|| async {
            tracing::info!("handled");
            "ok"
        }),
    );
    let app = finish(routes, 1024, Probe(Arc::new(ServiceMetrics::new("probe"))));

    for (sent, logged) in [(Some("pedido-42.a"), "pedido-42.a"), (None, "")] {
        let mut req = Request::builder().uri("/logged");
        if let Some(id) = sent {
            req = req.header("x-request-id", id);
        }
        let r = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        to_bytes(r.into_body(), usize::MAX).await.unwrap();
        // A minted id is logged just as a client's is.
        let want = if logged.is_empty() { id } else { logged.into() };
        let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
        assert!(
            text.lines()
                .any(|l| l.contains("handled") && l.contains(&format!("request_id=\"{want}\""))),
            "no log line of the handler carries request_id=\"{want}\":\n{text}"
        );
    }
}
