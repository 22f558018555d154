//! Confeitaria's gateway: the shop's one front door on port 8000.
//!
//! - [`proxy`]: pass-through forwarding to the catalog nodes, the cart and orders, with
//!   retries where [`retry`] says they are safe, event streams streamed;
//! - [`upstream`]: the pools of instances and how one is picked (leader for writes,
//!   round-robin over healthy nodes and learners for reads); the catalog's pool follows the
//!   cluster's membership;
//! - [`health`], [`breaker`]: passive and active health, the circuit breaker per instance;
//! - [`probe`]: the active prober (`/cluster/members`, `/cluster/status`, `/health`) and
//!   the leader timeline;
//! - [`limits`]: per-client rate limit and per-upstream load shedding;
//! - [`painel`]: the live cluster dashboard (`/painel`, Server-Sent Events), with node
//!   controls through [`control::NodeControl`] under `confeitaria up`;
//! - [`metrics`], [`window`]: Prometheus metrics and the dashboard's sliding window;
//! - [`config`], [`error`], [`openapi`].
//!
//! [`router`] builds the routes over a [`Gateway`]; [`serve`] runs them (and the prober) on
//! a listener until a shutdown future resolves; [`run`] builds it all from a
//! [`config::Config`] — what the `gateway` binary and `confeitaria up` run.

pub mod breaker;
pub mod config;
pub mod control;
pub mod error;
pub mod health;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod painel;
pub mod probe;
pub mod proxy;
pub mod retry;
pub mod upstream;
pub mod window;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{BoxError, Json, Router};
use confeitaria_client::config::Secret;
use confeitaria_service::http::{request_id, ServiceState};
use confeitaria_service::metrics::ServiceMetrics;
use governor::DefaultKeyedRateLimiter;
use prometheus_client::registry::Registry;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;

use crate::config::Config;
use crate::control::NodeControl;
use crate::error::GatewayError;
use crate::health::HealthPolicy;
use crate::metrics::Metrics;
use crate::probe::Timeline;
use crate::proxy::UpstreamClient;
use crate::upstream::{Group, Pool};

/// Everything the gateway's handlers and tasks share.
pub struct Inner {
    /// The catalog nodes.
    pub catalog: Pool,
    /// The cart.
    pub cart: Pool,
    /// Orders.
    pub orders: Pool,
    /// The pooled upstream client.
    pub client: UpstreamClient,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Health thresholds and probe timing.
    pub health_policy: HealthPolicy,
    /// Deadline of a whole request.
    pub request_timeout: Duration,
    /// Requests in flight per upstream before shedding.
    pub max_in_flight: usize,
    /// Per-client limiter; `None`: no limit.
    pub rate_limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Whether loopback clients are limited too.
    pub rate_limit_loopback: bool,
    /// Leader changes seen by the prober.
    pub timeline: Timeline,
    /// Kills and starts nodes for the dashboard (under `confeitaria up`).
    pub control: Option<Arc<dyn NodeControl>>,
    /// Key of admin JWTs.
    pub jwt_secret: Secret,
}

/// The shared state: cheap to clone.
#[derive(Clone)]
pub struct Gateway(Arc<Inner>);

impl Deref for Gateway {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Gateway {
    /// A gateway as `config` says, with node controls if given.
    pub fn new(config: &Config, control: Option<Arc<dyn NodeControl>>) -> Self {
        let breaker = config.breaker_policy();
        let ms = Duration::from_millis;
        let catalog = Pool::new(
            Group::Catalog,
            &config.catalog_nodes,
            &config.catalog_node_ids,
            ms(config.catalog_timeout_ms),
            breaker,
        );
        let one = |group, url: &str, timeout| {
            Pool::new(group, &[url.to_owned()], &[], ms(timeout), breaker)
        };
        Self(Arc::new(Inner {
            catalog,
            cart: one(Group::Cart, &config.cart_url, config.cart_timeout_ms),
            orders: one(Group::Orders, &config.orders_url, config.orders_timeout_ms),
            client: proxy::client(),
            metrics: Metrics::default(),
            health_policy: config.health_policy(),
            request_timeout: config.request_timeout(),
            max_in_flight: usize::try_from(config.max_in_flight).unwrap_or(usize::MAX),
            rate_limiter: limits::rate_limiter(config.rate_limit_per_sec, config.rate_burst),
            rate_limit_loopback: config.rate_limit_loopback,
            timeline: Timeline::default(),
            control,
            jwt_secret: config.jwt_secret.clone(),
        }))
    }

    /// The pool of `group`.
    pub fn pool(&self, group: Group) -> &Pool {
        match group {
            Group::Catalog => &self.catalog,
            Group::Cart => &self.cart,
            Group::Orders => &self.orders,
        }
    }

    /// Every pool.
    pub fn pools(&self) -> [&Pool; 3] {
        [&self.catalog, &self.cart, &self.orders]
    }
}

impl ServiceState for Gateway {
    type Error = GatewayError;

    fn request_timeout(&self) -> Duration {
        self.0.request_timeout
    }

    fn metrics(&self) -> &ServiceMetrics {
        &self.metrics.service
    }

    fn sample_metrics(&self, now: &mut Registry) {
        Metrics::sample(now, &self.pools());
    }

    fn openapi() -> Value {
        openapi::document()
    }
}

/// Whether `path` is the gateway's own (the API, the cluster, the dashboard, the service
/// endpoints); every other path is the storefront's.
pub fn owns(path: &str) -> bool {
    let under = |prefix: &str| {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    matches!(path, "/health" | "/ready" | "/metrics" | "/openapi.json")
        || under("/api")
        || under("/cluster")
        || under("/painel")
}

/// [`router`], with `storefront` (the shop's pages) answering every path the gateway does
/// not own ([`owns`]); every response tagged with `X-Request-Id` and `X-Upstream`.
pub fn app(gw: Gateway, storefront: Option<Router>) -> Router {
    let api = router(gw);
    let Some(shop) = storefront else {
        return api;
    };
    // `router` tags its own responses; only the storefront's need the layers here, so a
    // proxied request passes through each once.
    let shop = shop
        .layer(middleware::from_fn(tag_gateway))
        .layer(middleware::from_fn(request_id));
    Router::new().fallback(move |req: Request| {
        let target = if owns(req.uri().path()) {
            api.clone()
        } else {
            shop.clone()
        };
        async move {
            match tower::ServiceExt::oneshot(target, req).await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        }
    })
}

/// The gateway's routes with the shared tail (`/health`, `/metrics`, `/openapi.json`, JSON
/// 404/405, request deadline and counting), every response tagged with `X-Request-Id` and
/// `X-Upstream`.
pub fn router(gw: Gateway) -> Router {
    let shed = |gw: &Gateway| {
        let for_errors = gw.clone();
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(move |e: BoxError| {
                limits::overloaded(for_errors.clone(), e)
            }))
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::new(gw.max_in_flight))
    };
    let limited = |routes: Router<Gateway>| {
        routes
            .route_layer(shed(&gw))
            .route_layer(middleware::from_fn_with_state(
                gw.clone(),
                limits::rate_limit,
            ))
    };
    let catalog = limited(proxy::routes(Group::Catalog));
    let cart = limited(proxy::routes(Group::Cart));
    let orders = limited(proxy::routes(Group::Orders));
    let (own, _) = openapi::routes().split_for_parts();
    let own = own.route("/ready", get(ready));
    let routes = own.merge(catalog).merge(cart).merge(orders);
    confeitaria_service::http::finish(routes, proxy::BODY_LIMIT, gw)
        .layer(middleware::from_fn(tag_gateway))
}

/// Names the gateway itself in `X-Upstream` when no upstream answered.
async fn tag_gateway(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .entry("x-upstream")
        .or_insert(HeaderValue::from_static("gateway"));
    resp
}

/// `GET /ready`: a catalog node, the cart and orders each answered the latest probe.
async fn ready(State(gw): State<Gateway>) -> Response {
    let up = |p: &Pool| {
        p.instances()
            .iter()
            .any(|i| i.view().probe_ok && i.health.is_healthy())
    };
    let upstreams: serde_json::Map<String, Value> = gw
        .pools()
        .iter()
        .map(|p| (p.group.name().to_owned(), Value::Bool(up(p))))
        .collect();
    if upstreams.values().all(|v| *v == Value::Bool(true)) {
        return Json(json!({"status": "ready", "upstreams": upstreams})).into_response();
    }
    let body = json!({"error": {
        "code": "not_ready",
        "message": "an upstream has not answered the latest probe",
        "upstreams": upstreams
    }});
    let mut r = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    r.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        HeaderValue::from_static("1"),
    );
    r
}

/// `/` when no storefront is mounted.
#[utoipa::path(
    get,
    path = "/",
    summary = "The shop's front page (a placeholder when no storefront is mounted)",
    responses((status = 200, description = "The front page", content_type = "text/html", body = String))
)]
pub async fn vitrine_provisoria() -> Html<&'static str> {
    Html(
        "<!doctype html><html lang=\"pt-BR\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Confeitaria</title></head><body style=\"font-family:system-ui;background:#fff8f1;\
         color:#3b2a20;padding:2rem\"><h1>🧁 Confeitaria</h1><p>A vitrine abre em breve. \
         Enquanto isso: <a href=\"/painel\">painel do cluster</a>, \
         <a href=\"/api/produtos\">produtos (JSON)</a>.</p></body></html>",
    )
}

/// Serves `gw` (and `storefront`, if given, see [`app`]) on `listener` — client addresses
/// feed the rate limit — and runs the prober, until `shutdown` resolves; then drains open
/// requests and stops the prober.
pub async fn serve(
    listener: TcpListener,
    gw: Gateway,
    storefront: Option<Router>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let cancel = CancellationToken::new();
    let prober = tokio::spawn(probe::run(gw.clone(), cancel.clone()));
    let app = app(gw, storefront).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    cancel.cancel();
    let _ = prober.await;
    served
}

/// Runs the gateway as `config` sets it up, with node controls if given and the storefront
/// (calling the API through this gateway's own address), on `listener` until `shutdown`
/// resolves.
pub async fn run(
    listener: TcpListener,
    config: &Config,
    control: Option<Arc<dyn NodeControl>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        catalog = ?config.catalog_nodes,
        cart = %config.cart_url,
        orders = %config.orders_url,
        controls = control.is_some(),
        "gateway listening"
    );
    let mut shop = storefront::Config::new(format!("http://{addr}"));
    shop.admin_jwt_secret = Some(config.jwt_secret.clone());
    let shop = storefront::router(shop);
    serve(
        listener,
        Gateway::new(config, control),
        Some(shop),
        shutdown,
    )
    .await
}
