//! The public REST API of a catalog node (docs/design.md "API"): routes, extractors that turn bad
//! input into JSON errors, and the node's own layer over the shared router tail
//! ([`confeitaria_service::http::finish`]: `/health`, `/metrics`, `/openapi.json`, JSON
//! 404/405, body limit, deadline, request id, request metrics).

mod catalog;
mod cluster;
mod extract;
mod middleware;
pub mod openapi;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use confeitaria_service::http::ServiceState;
use confeitaria_service::metrics::ServiceMetrics;
use prometheus_client::registry::Registry;
use serde_json::Value;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::raft_node::CatalogNode;

pub use extract::{ReadLevel, ReadParams};

/// Largest request body the API accepts.
pub const MAX_BODY: usize = 64 * 1024;
/// Longest any request may take before a 503.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

/// Shared state of every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The Raft member.
    pub node: Arc<CatalogNode>,
    /// The node's registry.
    pub metrics: Arc<Metrics>,
}

/// What the shared router tail ([`confeitaria_service::http`]) asks of the node: its deadline,
/// metrics (with the Raft state sampled when scraped) and API document.
impl ServiceState for AppState {
    type Error = ApiError;

    fn request_timeout(&self) -> Duration {
        REQUEST_DEADLINE
    }

    fn metrics(&self) -> &ServiceMetrics {
        &self.metrics.service
    }

    fn sample_metrics(&self, now: &mut Registry) {
        crate::metrics::sample(now, &self.node);
    }

    fn openapi() -> Value {
        openapi::document()
    }
}

/// The API router: the node's routes, each under a catch for panics (a JSON 500, counted and
/// tagged like any answer), the shared tail, and the cluster headers on every response.
pub fn router(state: AppState) -> Router {
    let (routes, _) = openapi::member_routes()
        .route("/ready", get(cluster::ready))
        // Everything above is refused by a node removed from the membership; its status and
        // the members it knows stay readable.
        .route_layer(axum::middleware::from_fn_with_state(
            state.node.clone(),
            middleware::refuse_when_removed,
        ))
        .merge(openapi::status_routes())
        .split_for_parts();
    let routes = routes.layer(tower_http::catch_panic::CatchPanicLayer::custom(
        middleware::panic_response,
    ));
    let node = state.node.clone();
    confeitaria_service::http::finish(routes, MAX_BODY, state).layer(
        axum::middleware::from_fn_with_state(node, middleware::cluster_headers),
    )
}
