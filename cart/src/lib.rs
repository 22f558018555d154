//! Confeitaria's cart service: one cart per session id, kept in Redis (or in process memory
//! when no Redis is configured), priced from the catalog on every answer.
//!
//! - [`api`]: the four cart endpoints;
//! - [`ops`]: `/ready`, and what the shared router tail (`/health`, `/metrics`,
//!   `/openapi.json`, JSON 404/405, request deadline and counting) needs of the cart;
//! - [`store`]: the [`store::CartStore`] trait, [`store::RedisStore`] (Lua scripts) and
//!   [`store::MemoryStore`];
//! - [`catalog`]: the [`catalog::Catalogo`] trait the cart asks about products;
//! - [`events`]: the consumer of `pedidos:eventos` that empties the cart of a confirmed order;
//! - [`redis_link`]: the lazy, self-reconnecting, deadline-bound Redis connection the store
//!   and the consumer each hold;
//! - [`session`]: 128-bit random session ids;
//! - [`error`]: [`error::CartError`] and its one `IntoResponse`;
//! - [`config`]: command line, environment and cluster file;
//! - [`metrics`], [`openapi`], [`clock`]: counters, the API document, RFC 3339 instants.
//!
//! [`run`] serves a router over any listener until the shutdown future resolves; [`serve`]
//! also runs the order-event consumer under the same shutdown.

pub mod api;
pub mod catalog;
pub mod config;
pub mod error;
pub mod events;
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

use axum::routing::{delete, get, post};
use axum::serve::Listener;
use axum::Router;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::catalog::Catalogo;
use crate::events::{Consumer, EstadoConsumo};
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
    pub catalogo: Arc<dyn Catalogo>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Time bounds.
    pub limits: Limits,
    /// What the order-event consumer is doing (`disabled` unless one runs), for `/ready`.
    pub eventos: Arc<EstadoConsumo>,
}

impl AppState {
    /// State with fresh metrics and the given bounds.
    pub fn new(store: Arc<dyn CartStore>, catalogo: Arc<dyn Catalogo>, limits: Limits) -> Self {
        Self {
            store,
            catalogo,
            metrics: Arc::new(Metrics::default()),
            limits,
            eventos: Arc::new(EstadoConsumo::default()),
        }
    }
}

/// The service's routes with the shared tail (`/health`, `/metrics`, `/openapi.json`, JSON
/// 404/405, body limit, request deadline and counting).
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/api/carrinho/adicionar", post(api::adicionar))
        .route("/api/carrinho/remover/{doce_id}", delete(api::remover))
        .route(
            "/api/carrinho/{session_id}",
            get(api::ler).delete(api::apagar),
        )
        .route("/ready", get(ops::ready));
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
