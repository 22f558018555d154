//! Confeitaria's cart service: one cart per session id, kept in Redis (or in process memory
//! when no Redis is configured), priced from the catalog on every answer.
//!
//! - [`api`]: the four cart endpoints;
//! - [`ops`]: `/ready`, and what the shared router tail (`/health`, `/metrics`,
//!   `/openapi.json`, JSON 404/405, request deadline and counting) needs of the cart;
//! - [`store`]: the [`store::CartStore`] trait, [`store::RedisStore`] (Lua scripts) and
//!   [`store::MemoryStore`];
//! - [`catalog`]: the [`catalog::Catalog`] trait the cart asks about products;
//! - [`events`]: the consumer of `pedidos:eventos` that empties the cart of a confirmed order;
//! - [`internal`]: the endpoint orders delivers order events to when it has no Redis;
//! - [`dedupe`]: applying an order event once, whichever way it came;
//! - [`redis_link`]: the lazy, self-reconnecting, deadline-bound Redis connection the store
//!   and the consumer each hold;
//! - [`session`]: 128-bit random session ids;
//! - [`error`]: [`error::CartError`] and its one `IntoResponse`;
//! - [`config`]: command line, environment and cluster file;
//! - [`metrics`], [`openapi`], [`clock`]: counters, the API document, RFC 3339 instants.
//!
//! [`run`] serves a router over any listener until the shutdown future resolves; [`serve`]
//! also runs the order-event consumer under the same shutdown; [`run_configured`] builds all
//! of it from a [`config::Config`] — what the `cart` binary and `confeitaria up` run.

pub mod api;
pub mod catalog;
pub mod config;
pub mod dedupe;
pub mod error;
pub mod events;
pub mod internal;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod redis_link;
pub mod session;
pub mod store;

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::serve::Listener;
use axum::Router;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use confeitaria_client::config::Secret;

use crate::catalog::Catalog;
use crate::dedupe::{SeenIds, SeenInMemory};
use crate::events::{Consumer, ConsumerState};
use crate::metrics::Metrics;
use crate::store::CartStore;

/// Largest request body accepted (an add is about 40 bytes).
pub const BODY_LIMIT: usize = 16 * 1024;

/// Time bounds of the service.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Upper bound on one catalog look-up.
    pub catalog_deadline: Duration,
    /// Upper bound on a whole request; past it the answer is 503 `timeout`.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            catalog_deadline: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Where carts live.
    pub store: Arc<dyn CartStore>,
    /// Where products, prices and stock come from.
    pub catalog: Arc<dyn Catalog>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Time bounds.
    pub limits: Limits,
    /// What the order-event consumer is doing (`disabled` unless one runs), for `/ready`.
    pub eventos: Arc<ConsumerState>,
    /// Key of the service JWTs orders signs its direct event deliveries with.
    pub jwt_secret: Secret,
    /// Which order confirmations were handled (both delivery paths).
    pub seen: Arc<dyn SeenIds>,
}

impl AppState {
    /// State with fresh metrics and the given bounds, the development JWT secret and
    /// handled confirmations remembered in memory.
    pub fn new(store: Arc<dyn CartStore>, catalog: Arc<dyn Catalog>, limits: Limits) -> Self {
        Self {
            store,
            catalog,
            metrics: Arc::new(Metrics::default()),
            limits,
            eventos: Arc::new(ConsumerState::default()),
            jwt_secret: Secret::new(config::DEV_JWT_SECRET),
            seen: Arc::new(SeenInMemory::new(store::DEFAULT_TTL, dedupe::MEMORY_MAX)),
        }
    }
}

/// The service's routes with the shared tail (`/health`, `/metrics`, `/openapi.json`, JSON
/// 404/405, body limit, request deadline and counting).
pub fn router(state: AppState) -> Router {
    let (routes, _) = openapi::routes().split_for_parts();
    let routes = routes.route("/ready", get(ops::ready));
    confeitaria_service::http::finish(routes, BODY_LIMIT, state)
}

/// Serves the cart API on `listener` until `shutdown` resolves, then drains open requests.
/// No order-event consumer: see [`serve`].
pub async fn run<L>(
    listener: L,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: Listener,
    L::Addr: Debug,
{
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Why a configured cart could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store or the order-event consumer could not be set up.
    #[error("{what}: {source}")]
    Setup {
        /// What was being set up.
        what: &'static str,
        /// Why it failed.
        source: store::StoreError,
    },
    /// Serving failed.
    #[error("serving: {0}")]
    Serve(#[from] std::io::Error),
}

/// Runs the cart as `config` sets it up — its store, catalog look-ups, and the order-event
/// consumer when a Redis URL is configured — on `listener` until `shutdown` resolves.
pub async fn run_configured<L>(
    config: &config::Config,
    listener: L,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError>
where
    L: Listener,
    L::Addr: Debug,
{
    let setup = |what| move |source| RunError::Setup { what, source };
    let store = config.store().map_err(setup("cart store"))?;
    let catalog: Arc<dyn Catalog> = Arc::new(catalog::ClientCatalog::new(
        config.catalog_nodes.clone(),
        config.limits().catalog_deadline,
    ));
    let addr = listener.local_addr()?;
    tracing::info!(?addr, store = store.kind(), "cart listening");
    let mut state = AppState::new(store, catalog, config.limits());
    state.jwt_secret = config.jwt_secret.clone();
    state.seen = config.seen().map_err(setup("handled order events"))?;
    let consumer = match config.events() {
        None => {
            tracing::info!("no Redis URL: order events arrive from orders directly");
            None
        }
        Some(c) => Some(Consumer::for_state(c, &state).map_err(setup("order-event consumer"))?),
    };
    Ok(serve(listener, state, consumer, shutdown).await?)
}

/// Serves the cart API and, if given, runs the order-event `consumer` (built with
/// [`Consumer::for_state`]) until `shutdown` resolves; then drains open requests and stops the
/// consumer (under a cancellation token, between two entries) before returning.
pub async fn serve<L>(
    listener: L,
    state: AppState,
    consumer: Option<Consumer>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: Listener,
    L::Addr: Debug,
{
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    if let Some(consumer) = consumer {
        tasks.spawn(consumer.run(cancel.clone()));
    }
    tasks.close();
    let served = run(listener, state, shutdown).await;
    cancel.cancel();
    tasks.wait().await;
    served
}
