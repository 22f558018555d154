//! Confeitaria's orders service: every order is an append-only event log in sled, its stock
//! moves through the catalog by a saga that survives a crash at any step, and its events
//! leave through an outbox to the Redis stream `pedidos:eventos` — or, without Redis,
//! straight to the cart.
//!
//! - [`api`]: the order endpoints (checkout, read, events, status);
//! - [`ops`]: `/ready`, and what the shared router tail (`/health`, `/metrics`,
//!   `/openapi.json`, JSON 404/405, request deadline and counting) needs of orders;
//! - [`saga`]: checkout, payment, cancellation and the driver that finishes open steps;
//! - [`machine`]: the pure state machine (legal transitions, the fold of events);
//! - [`store`]: the sled trees (events, heads, idempotency keys, outbox, open steps);
//! - [`outbox`]: the publisher (to Redis, or to the cart through [`direct`]);
//! - [`stream`]: an order's events live, as Server-Sent Events;
//! - [`catalog`], [`cart_source`]: the catalog's reservations and the cart, behind traits;
//! - [`failpoint`]: `CONFEITARIA_FAILPOINT`, aborting the process at a named step;
//! - [`config`], [`error`], [`metrics`], [`openapi`], [`clock`].
//!
//! [`run`] opens everything and serves on a listener until the shutdown future resolves.

pub mod api;
pub mod cart_source;
pub mod catalog;
pub mod config;
pub mod direct;
pub mod error;
pub mod failpoint;
pub mod machine;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod outbox;
pub mod saga;
pub mod store;
pub mod stream;

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use axum::routing::get;
use axum::serve::Listener;
use axum::Router;
use confeitaria_client::config::Secret;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cart_source::{CartSource, HttpCart};
use crate::catalog::{CatalogReservations, Reservations};
use crate::config::Config;
use crate::direct::DirectDelivery;
use crate::metrics::Metrics;
use crate::outbox::Destination;
use crate::saga::Saga;
use crate::store::{Store, StoreError};

/// Largest request body accepted (a checkout is about 50 bytes).
pub const BODY_LIMIT: usize = 16 * 1024;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The saga, with the store and counters.
    pub saga: Arc<Saga>,
    /// The catalog (for `/ready`; the saga holds its own handle).
    pub reservations: Arc<dyn Reservations>,
    /// Where carts are read.
    pub carts: Arc<dyn CartSource>,
    /// Key of admin JWTs.
    pub jwt_secret: Secret,
    /// The outbox publisher's status.
    pub publishing: Arc<outbox::PublisherStatus>,
    /// Tracks saga tasks and background tasks.
    pub tracker: TaskTracker,
    /// Cancelled on shutdown, once requests have drained.
    pub cancel: CancellationToken,
    /// Cancelled as soon as shutdown begins: ends the live event streams, which would
    /// otherwise keep the drain waiting.
    pub closing: CancellationToken,
    /// Deadline of a whole request.
    pub request_timeout: std::time::Duration,
}

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Serving failed.
    #[error("serve: {0}")]
    Io(#[from] std::io::Error),
}

/// The service's routes with the shared tail (`/health`, `/metrics`, `/openapi.json`, JSON
/// 404/405, body limit, request deadline and counting).
pub fn router(state: AppState) -> Router {
    let (routes, _) = openapi::routes().split_for_parts();
    let routes = routes.route("/ready", get(ops::ready));
    confeitaria_service::http::finish(routes, BODY_LIMIT, state)
}

/// The opened service: state plus what its background tasks need.
pub struct App {
    /// Handler state.
    pub state: AppState,
    config: Config,
    /// Where events go without a Redis URL; `None`: they wait in the outbox.
    direct: Option<DirectDelivery>,
}

impl App {
    /// Opens the store in `config.data_dir` and wires the catalog and cart clients.
    pub fn open(config: Config) -> Result<Self, RunError> {
        std::fs::create_dir_all(&config.data_dir)?;
        let store = Store::open(&config.data_dir)?;
        let reservations: Arc<dyn Reservations> = Arc::new(CatalogReservations::new(
            config.catalog_nodes.clone(),
            config.jwt_secret.clone(),
            config.catalog_timeout(),
        ));
        let carts: Arc<dyn CartSource> =
            Arc::new(HttpCart::new(&config.cart_url, config.cart_timeout()));
        let direct = DirectDelivery::new(
            &config.cart_url,
            config.jwt_secret.clone(),
            config.cart_timeout(),
        );
        Ok(Self::with_parts(config, store, reservations, carts).with_direct_delivery(direct))
    }

    /// Without a Redis URL, delivers order events to the cart through `direct` (what
    /// [`App::open`] sets up; without it they wait in the outbox).
    pub fn with_direct_delivery(mut self, direct: DirectDelivery) -> Self {
        self.direct = Some(direct);
        self
    }

    /// Wires a service from its parts (tests and embedders may pass their own).
    pub fn with_parts(
        config: Config,
        store: Store,
        reservations: Arc<dyn Reservations>,
        carts: Arc<dyn CartSource>,
    ) -> Self {
        let metrics = Arc::new(Metrics::default());
        let saga = Arc::new(Saga::new(store, reservations.clone(), metrics));
        let state = AppState {
            saga,
            reservations,
            carts,
            jwt_secret: config.jwt_secret.clone(),
            publishing: Arc::default(),
            tracker: TaskTracker::new(),
            cancel: CancellationToken::new(),
            closing: CancellationToken::new(),
            request_timeout: config.request_timeout(),
        };
        Self {
            state,
            config,
            direct: None,
        }
    }

    /// Draws order ids from `ids` (a simulation's seeded source) instead of the thread's
    /// random generator. Call before serving.
    pub fn with_ids(mut self, ids: impl Fn() -> u128 + Send + Sync + 'static) -> Self {
        let metrics = self.state.saga.metrics.clone();
        let saga = Saga::new(
            self.state.saga.store.clone(),
            self.state.reservations.clone(),
            metrics,
        )
        .with_ids(ids);
        self.state.saga = Arc::new(saga);
        self
    }

    /// Starts the saga driver (which first recovers every unfinished saga) and the outbox
    /// publisher (to Redis, else to the cart directly, else nowhere), serves on `listener` until `shutdown` resolves, then drains requests and
    /// stops the background tasks.
    pub async fn serve<L>(
        self,
        listener: L,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RunError>
    where
        L: Listener,
        L::Addr: Debug,
    {
        failpoint::announce();
        let st = self.state;
        // Built before the background tasks start, so that serving begins as soon as they do
        // (building it generates the API document).
        let app = router(st.clone());
        st.tracker.spawn(
            st.saga
                .clone()
                .drive_open(st.cancel.clone(), self.config.recovery_interval()),
        );
        let publisher = outbox::Publisher {
            store: st.saga.store.clone(),
            flushed: st.saga.outbox.clone(),
            metrics: st.saga.metrics.clone(),
            status: st.publishing.clone(),
            deadline: self.config.redis_timeout(),
            max_pending: usize::try_from(self.config.outbox_max).unwrap_or(usize::MAX),
        };
        let destination = match self.config.redis_url.get() {
            Some(url) => Some(Destination::Redis(url)),
            None => self.direct.map(Destination::Cart),
        };
        st.tracker
            .spawn(publisher.run(destination, st.cancel.clone()));
        let cancel = st.cancel.clone();
        let closing = st.closing.clone();
        let shutdown = async move {
            shutdown.await;
            closing.cancel();
        };
        let tracker = st.tracker.clone();
        let store = st.saga.store.clone();
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        cancel.cancel();
        tracker.close();
        tracker.wait().await;
        store.flush().await?;
        tracing::info!("orders stopped");
        served.map_err(RunError::from)
    }
}

/// Opens the service from `config` and serves it on `listener` until `shutdown` resolves.
pub async fn run<L>(
    listener: L,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError>
where
    L: Listener,
    L::Addr: Debug,
{
    App::open(config)?.serve(listener, shutdown).await
}
