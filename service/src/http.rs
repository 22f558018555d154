//! The tail every service's router ends with: `/health`, `/metrics`, `/openapi.json`, JSON
//! answers for unknown routes and methods, a body limit, [`observe`] (the request deadline,
//! the request counter and latency histogram) and [`request_id`] (`X-Request-Id` accepted or
//! minted, in the request's tracing span and on every response).
//!
//! A service lists its own routes (`/ready` among them, since readiness is its own), then
//! hands them to [`finish`] with its state, which says through [`ServiceState`] where its
//! metrics are, how long a request may take and how its error type answers a [`Refusal`].
//! A service with behaviour of its own on every response (the catalog node's cluster headers)
//! layers it on the router [`finish`] returns.

use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::registry::Registry;
use serde_json::{json, Value};
use tracing::Instrument;

use crate::metrics::ServiceMetrics;

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

    /// The service's registry: [`observe`] counts every request in it, `GET /metrics`
    /// renders it.
    fn metrics(&self) -> &ServiceMetrics;

    /// Registers into `now` what is sampled when `/metrics` is scraped (gauges of state, counters
    /// kept elsewhere); nothing by default.
    fn sample_metrics(&self, now: &mut Registry) {
        let _ = now;
    }

    /// The document of `GET /openapi.json`.
    fn openapi() -> Value;
}

/// `routes` with the shared tail: `/health`, `/metrics`, `/openapi.json`, JSON 404/405, bodies
/// capped at `body_limit` bytes, and every request (the tail's too) under [`observe`] and,
/// outermost, [`request_id`].
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
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// Bounds each request by [`ServiceState::request_timeout`], counts it by method, route and
/// status and observes its latency by route and status class.
pub async fn observe<S: ServiceState>(State(st): State<S>, req: Request, next: Next) -> Response {
    // `MatchedPath` holds an `Arc<str>`: cloning it does not allocate.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let started = Instant::now();
    let response = match tokio::time::timeout(st.request_timeout(), next.run(req)).await {
        Ok(r) => r,
        Err(_) => S::Error::from(Refusal::Timeout).into_response(),
    };
    st.metrics().record_request(
        &method,
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        response.status(),
        started.elapsed(),
    );
    response
}

/// The `X-Request-Id` header.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest `X-Request-Id` accepted from a client; longer or odd ones are replaced.
pub const MAX_REQUEST_ID: usize = 128;

/// The request id of a request under [`request_id`] (also in its extensions).
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

impl RequestId {
    /// The id as text (always printable ASCII).
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

/// Takes the client's `X-Request-Id` if it is 1 to [`MAX_REQUEST_ID`] bytes of printable
/// ASCII without spaces, else mints one (32 hex digits); puts it on the request (headers, so a
/// proxy passes it on, and extensions as [`RequestId`]), in a tracing span around the request
/// (so every log line the request causes carries it), and on the response.
///
/// A request that already went through it (an outer router under the same middleware) is
/// passed on untouched: one id, one span.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    if req.extensions().get::<RequestId>().is_some() {
        return next.run(req).await;
    }
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|v| acceptable_request_id(v.as_bytes()))
        .cloned()
        .unwrap_or_else(mint_request_id);
    req.headers_mut().insert(X_REQUEST_ID.clone(), id.clone());
    req.extensions_mut().insert(RequestId(id.clone()));
    // Made for every request (about 1 µs with the fmt subscriber, see `tail_cost`); an info
    // span, so that the warnings and errors of the default filter carry the id.
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or_default(),
        method = %req.method(),
        path = req.uri().path(),
    );
    let mut resp = next.run(req).instrument(span).await;
    resp.headers_mut().insert(X_REQUEST_ID.clone(), id);
    resp
}

/// Whether a client's request id is kept: 1 to [`MAX_REQUEST_ID`] bytes, each visible ASCII.
fn acceptable_request_id(b: &[u8]) -> bool {
    !b.is_empty() && b.len() <= MAX_REQUEST_ID && b.iter().all(u8::is_ascii_graphic)
}

/// A fresh request id: 128 random bits as 32 hex digits.
fn mint_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = rand::random::<u128>();
    // Into a buffer on the stack: `format!` cost more than the rest of this middleware.
    let mut id = [0u8; 32];
    for (i, digit) in id.iter_mut().enumerate() {
        *digit = HEX[((bits >> (124 - 4 * i)) & 0xf) as usize];
    }
    // 32 hex digits are always a valid header value.
    HeaderValue::from_bytes(&id).unwrap_or(HeaderValue::from_static("0"))
}

/// `GET /health`: the process is alive and serving HTTP.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /metrics`: the service's registry and what it samples now, as OpenMetrics text.
async fn metrics<S: ServiceState>(State(st): State<S>) -> impl IntoResponse {
    let text = st.metrics().render(|now| st.sample_metrics(now));
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text)
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
    use std::sync::Arc;

    use axum::body::{to_bytes, Body};
    use axum::http::StatusCode;
    use axum::routing::post;
    use prometheus_client::metrics::gauge::ConstGauge;
    use tower::ServiceExt;

    /// A state with its own registry.
    #[derive(Clone)]
    struct Probe {
        metrics: Arc<ServiceMetrics>,
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
        fn metrics(&self) -> &ServiceMetrics {
            &self.metrics
        }
        fn sample_metrics(&self, now: &mut Registry) {
            now.register(
                "sampled",
                "A gauge read at scrape time",
                ConstGauge::new(5i64),
            );
        }
        fn openapi() -> Value {
            json!({"openapi": "3.1.0"})
        }
    }

    fn app() -> Router {
        let st = Probe {
            metrics: Arc::new(ServiceMetrics::new("probe")),
        };
        let routes = Router::new()
            .route("/echo", post(|b: String| async move { b }))
            .route(
                "/logged",
                get(|| async {
                    tracing::info!("handled");
                    "ok"
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            );
        finish(routes, 8, st)
    }

    async fn send(app: &Router, req: Request) -> (u16, Option<String>, String) {
        let r = app.clone().oneshot(req).await.unwrap();
        let status = r.status().as_u16();
        let id = r
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = to_bytes(r.into_body(), usize::MAX).await.unwrap();
        (status, id, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn call(app: &Router, method: &str, uri: &str, body: &'static str) -> (u16, String) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body))
            .unwrap();
        let (status, _, body) = send(app, req).await;
        (status, body)
    }

    #[tokio::test]
    async fn the_tail_answers_refusals_with_the_service_error_and_counts_by_route() {
        let app = app();
        assert_eq!(
            call(&app, "GET", "/health", "").await.1,
            r#"{"status":"ok"}"#
        );
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

        let text = call(&app, "GET", "/metrics", "").await.1;
        let has = |line: &str| text.lines().any(|l| l == line);
        for line in [
            "probe_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
            "probe_http_requests_total{method=\"GET\",route=\"/slow\",status=\"503\"} 1",
            "probe_http_requests_total{method=\"POST\",route=\"/echo\",status=\"413\"} 1",
            "probe_http_request_duration_seconds_count{route=\"/slow\",status_class=\"5xx\"} 1",
            "probe_sampled 5",
        ] {
            assert!(has(line), "{line} missing in\n{text}");
        }
        assert!(!text.contains("/nope"), "{text}");
    }

    /// That the id is in the request's span, and so in its log lines, is checked in its own
    /// process (`tests/request_span.rs`): tracing's callsite cache is process-wide.
    #[tokio::test]
    async fn a_request_id_is_echoed_minted_or_replaced() {
        let app = app();
        let with = |id: Option<&str>| {
            let mut b = Request::builder().uri("/logged");
            if let Some(id) = id {
                b = b.header("x-request-id", id);
            }
            b.body(Body::empty()).unwrap()
        };
        let (_, echoed, _) = send(&app, with(Some("pedido-42.a"))).await;
        assert_eq!(echoed.as_deref(), Some("pedido-42.a"));

        let minted = |id: Option<String>| {
            let id = id.unwrap();
            assert_eq!(id.len(), 32, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
            id
        };
        let (_, a, _) = send(&app, with(None)).await;
        let (_, b, _) = send(&app, with(None)).await;
        assert_ne!(minted(a), minted(b));
        for junk in ["has space", "", &"x".repeat(MAX_REQUEST_ID + 1)] {
            let (_, replaced, _) = send(&app, with(Some(junk))).await;
            assert_ne!(replaced.as_deref(), Some(junk));
            minted(replaced);
        }
        let long_enough = "y".repeat(MAX_REQUEST_ID);
        let (_, kept, _) = send(&app, with(Some(&long_enough))).await;
        assert_eq!(kept, Some(long_enough));

        // Refusals of the tail carry it too.
        let req = Request::builder()
            .uri("/nope")
            .header("x-request-id", "r1")
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, req).await.1.as_deref(), Some("r1"));
    }
}

/// What the tail costs a request, measured by hand on a release build:
/// `cargo test --release -p confeitaria-service --lib tail_cost -- --ignored --nocapture`.
#[cfg(test)]
mod tail_cost {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Method, StatusCode};
    use tower::ServiceExt;

    #[derive(Clone)]
    struct St(Arc<ServiceMetrics>);
    struct E;
    impl From<Refusal> for E {
        fn from(_: Refusal) -> Self {
            E
        }
    }
    impl IntoResponse for E {
        fn into_response(self) -> Response {
            "e".into_response()
        }
    }
    impl ServiceState for St {
        type Error = E;
        fn request_timeout(&self) -> Duration {
            Duration::from_secs(10)
        }
        fn metrics(&self) -> &ServiceMetrics {
            &self.0
        }
        fn openapi() -> Value {
            Value::Null
        }
    }

    fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
        Router::new().route("/api/produtos/{id}", get(|| async { "ok" }))
    }

    const N: u32 = 100_000;

    /// Mean time of `N` requests through `app`.
    async fn per_request(app: Router) -> Duration {
        let started = Instant::now();
        for _ in 0..N {
            let req = Request::builder()
                .uri("/api/produtos/7")
                .header("x-request-id", "abc")
                .body(Body::empty())
                .unwrap();
            let r = app.clone().oneshot(req).await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
        }
        started.elapsed() / N
    }

    /// Mean time of `f`, run `N` times.
    fn each(mut f: impl FnMut()) -> Duration {
        let started = Instant::now();
        for _ in 0..N {
            f();
        }
        started.elapsed() / N
    }

    #[tokio::test]
    #[ignore = "a measurement: run by hand on a release build"]
    async fn tail_cost() {
        // Spans cost what they cost under the subscriber the services install.
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let metrics = Arc::new(ServiceMetrics::new("x"));
        let record = each(|| {
            metrics.record_request(
                &Method::GET,
                "/api/produtos/{id}",
                StatusCode::OK,
                Duration::from_micros(3),
            )
        });
        let span = each(|| {
            let s = tracing::info_span!("request", request_id = "abc", method = "GET", path = "/x");
            let _e = s.enter();
        });
        println!("record_request {record:?}, request span {span:?}");
        let bare: Router = routes::<()>().with_state(());
        let tail = finish(routes(), 1024, St(metrics.clone()));
        let mut added = Duration::MAX;
        for _ in 0..3 {
            let b = per_request(bare.clone()).await;
            let t = per_request(tail.clone()).await;
            println!("bare router {b:?}/request, with the tail {t:?}/request");
            added = added.min(t.saturating_sub(b));
        }
        // Generous, for a shared machine: the point is the figures printed above.
        assert!(added < Duration::from_micros(50), "the tail adds {added:?}");
    }
}
