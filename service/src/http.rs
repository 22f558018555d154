//! The tail every service's router ends with: `/health`, `/metrics`, `/openapi.json`, JSON
//! answers for unknown routes and methods, a body limit, and [`observe`] (the request deadline
//! and the request counters).
//!
//! A service lists its own routes (`/ready` among them, since readiness is its own), then
//! hands them to [`finish`] with its state, which says through [`ServiceState`] how to count,
//! how long a request may take and how its error type answers a [`Refusal`].

use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

/// What the tail itself refuses; each service answers it with its own error type (and so its
/// own codes and messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No route for this path (404 `not_found`).
    RouteNotFound,
    /// The path exists but not with this method (405 `method_not_allowed`).
    MethodNotAllowed,
    /// The request outlived [`ServiceState::request_timeout`] (503 `timeout`).
    Timeout,
}

/// What [`finish`] needs from a service's state.
pub trait ServiceState: Clone + Send + Sync + 'static {
    /// The service's one error type, which answers every [`Refusal`].
    type Error: IntoResponse + From<Refusal> + Send + 'static;

    /// Upper bound on a whole request.
    fn request_timeout(&self) -> Duration;

    /// Counts one answered request. `route` is the matched route pattern, never the raw path
    /// (raw paths hold session and order ids: capabilities, unbounded in number).
    fn record_request(&self, method: &str, route: &str, status: u16, took: Duration);

    /// The Prometheus text of `GET /metrics`.
    fn metrics_text(&self) -> String;

    /// The document of `GET /openapi.json`.
    fn openapi() -> Value;
}

/// `routes` with the shared tail: `/health`, `/metrics`, `/openapi.json`, JSON 404/405, bodies
/// capped at `body_limit` bytes, and every request (the tail's too) under [`observe`].
pub fn finish<S: ServiceState>(routes: Router<S>, body_limit: usize, state: S) -> Router {
    routes
        .route("/health", get(health))
        .route("/metrics", get(metrics::<S>))
        .route("/openapi.json", get(openapi::<S>))
        .fallback(not_found::<S>)
        // Applies to every route added above, so it comes after all of them.
        .method_not_allowed_fallback(method_not_allowed::<S>)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), observe::<S>))
        .with_state(state)
}

/// Bounds each request by [`ServiceState::request_timeout`] and counts it by method, route and
/// status.
pub async fn observe<S: ServiceState>(State(st): State<S>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = match tokio::time::timeout(st.request_timeout(), next.run(req)).await {
        Ok(r) => r,
        Err(_) => S::Error::from(Refusal::Timeout).into_response(),
    };
    st.record_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// `GET /health`: the process is alive and serving HTTP.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /metrics`: Prometheus text format.
async fn metrics<S: ServiceState>(State(st): State<S>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics_text(),
    )
}

/// `GET /openapi.json`.
async fn openapi<S: ServiceState>() -> Json<Value> {
    Json(S::openapi())
}

/// Any path the router does not know.
async fn not_found<S: ServiceState>() -> S::Error {
    Refusal::RouteNotFound.into()
}

/// A known path with a method it does not take.
async fn method_not_allowed<S: ServiceState>() -> S::Error {
    Refusal::MethodNotAllowed.into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::{Arc, Mutex};

    use axum::body::{to_bytes, Body};
    use axum::http::StatusCode;
    use axum::routing::post;
    use tower::ServiceExt;

    /// A state that remembers what was counted.
    #[derive(Clone, Default)]
    struct Probe {
        counted: Arc<Mutex<Vec<(String, String, u16)>>>,
    }

    struct ProbeError(Refusal);

    impl From<Refusal> for ProbeError {
        fn from(r: Refusal) -> Self {
            Self(r)
        }
    }

    impl IntoResponse for ProbeError {
        fn into_response(self) -> Response {
            let status = match self.0 {
                Refusal::RouteNotFound => StatusCode::NOT_FOUND,
                Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
                Refusal::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            };
            (status, format!("{:?}", self.0)).into_response()
        }
    }

    impl ServiceState for Probe {
        type Error = ProbeError;
        fn request_timeout(&self) -> Duration {
            Duration::from_millis(50)
        }
        fn record_request(&self, method: &str, route: &str, status: u16, _: Duration) {
            let mut c = self.counted.lock().unwrap();
            c.push((method.to_owned(), route.to_owned(), status));
        }
        fn metrics_text(&self) -> String {
            "probe_total 1\n".into()
        }
        fn openapi() -> Value {
            json!({"openapi": "3.1.0"})
        }
    }

    async fn call(app: &Router, method: &str, uri: &str, body: &'static str) -> (u16, String) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body))
            .unwrap();
        let r = app.clone().oneshot(req).await.unwrap();
        let status = r.status().as_u16();
        let bytes = to_bytes(r.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn the_tail_answers_refusals_with_the_service_error_and_counts_by_route() {
        let st = Probe::default();
        let routes = Router::new()
            .route("/echo", post(|b: String| async move { b }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            );
        let app = finish(routes, 8, st.clone());

        assert_eq!(
            call(&app, "GET", "/health", "").await.1,
            r#"{"status":"ok"}"#
        );
        assert_eq!(call(&app, "GET", "/metrics", "").await.1, "probe_total 1\n");
        assert_eq!(
            call(&app, "GET", "/openapi.json", "").await.1,
            r#"{"openapi":"3.1.0"}"#
        );
        assert_eq!(
            call(&app, "GET", "/nope", "").await,
            (404, "RouteNotFound".into())
        );
        assert_eq!(
            call(&app, "GET", "/echo", "").await,
            (405, "MethodNotAllowed".into())
        );
        assert_eq!(
            call(&app, "DELETE", "/health", "").await,
            (405, "MethodNotAllowed".into())
        );
        assert_eq!(call(&app, "POST", "/echo", "12345678").await.0, 200);
        assert_eq!(call(&app, "POST", "/echo", "123456789").await.0, 413);
        assert_eq!(
            call(&app, "GET", "/slow", "").await,
            (503, "Timeout".into())
        );

        let counted = st.counted.lock().unwrap().clone();
        assert!(counted.contains(&("GET".into(), "unmatched".into(), 404)));
        assert!(counted.contains(&("GET".into(), "/slow".into(), 503)));
        assert!(counted.contains(&("POST".into(), "/echo".into(), 413)));
        assert!(!counted.iter().any(|(_, route, _)| route == "/nope"));
    }
}
