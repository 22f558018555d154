//! The public REST API of a catalog node (docs/design.md "API"): routes, extractors that turn bad
//! input into JSON errors, and the node's own layer over the shared router tail
//! ([`confeitaria_service::http::finish`]: `/health`, `/metrics`, `/openapi.json`, JSON
//! 404/405, body limit, deadline, request id, request metrics).

mod catalog;
mod cluster;
mod extract;
mod middleware;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{delete, get, post};
use axum::Router;

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

/// The API router: the node's routes, each under a catch for panics (a JSON 500, counted and
/// tagged like any answer), the shared tail, and the cluster headers on every response.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route(
            "/api/produtos",
            get(catalog::list_products).post(catalog::create_product),
        )
        .route(
            "/api/produtos/{id}",
            get(catalog::get_product).put(catalog::update_product),
        )
        .route(
            "/api/produtos/{id}/estoque",
            get(catalog::get_stock).put(catalog::change_stock),
        )
        .route(
            "/api/produtos/categoria/{categoria}",
            get(catalog::products_in_category),
        )
        .route(
            "/api/categorias",
            get(catalog::list_categories).post(catalog::create_category),
        )
        .route("/api/reservas", post(catalog::reserve))
        .route(
            "/api/reservas/{id}",
            get(catalog::get_reservation).delete(catalog::release),
        )
        .route("/api/reservas/{id}/confirmar", post(catalog::confirm))
        .route("/api/reservas/{id}/encerrar", post(catalog::close))
        .route("/cluster/members", post(cluster::add_member))
        .route("/cluster/members/{id}", delete(cluster::remove_member))
        .route("/ready", get(cluster::ready))
        // Everything above is refused by a node removed from the membership; its status and
        // the members it knows stay readable.
        .route_layer(axum::middleware::from_fn_with_state(
            state.node.clone(),
            middleware::refuse_when_removed,
        ))
        .route("/cluster/status", get(cluster::status))
        .route("/cluster/members", get(cluster::members))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            middleware::panic_response,
        ));
    let node = state.node.clone();
    confeitaria_service::http::finish(routes, MAX_BODY, state).layer(
        axum::middleware::from_fn_with_state(node, middleware::cluster_headers),
    )
}
