//! The public REST API of a catalog node (docs/design.md "API"): routes, extractors that turn bad
//! input into JSON errors, and the middleware every response passes through.

mod catalog;
mod cluster;
mod extract;
mod middleware;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;

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
    /// Request counters.
    pub metrics: Arc<Metrics>,
}

/// The API router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/produtos", get(catalog::listar).post(catalog::criar))
        .route(
            "/api/produtos/{id}",
            get(catalog::obter).put(catalog::atualizar),
        )
        .route(
            "/api/produtos/{id}/estoque",
            get(catalog::estoque).put(catalog::ajustar_estoque),
        )
        .route(
            "/api/produtos/categoria/{categoria}",
            get(catalog::por_categoria),
        )
        .route(
            "/api/categorias",
            get(catalog::categorias).post(catalog::criar_categoria),
        )
        .route("/api/reservas", post(catalog::reservar))
        .route(
            "/api/reservas/{id}",
            get(catalog::obter_reserva).delete(catalog::liberar),
        )
        .route("/api/reservas/{id}/confirmar", post(catalog::confirmar))
        .route("/cluster/status", get(cluster::status))
        .route("/cluster/members", post(cluster::add_member))
        .route("/cluster/members/{id}", delete(cluster::remove_member))
        .route("/health", get(cluster::health))
        .route("/ready", get(cluster::ready))
        .route("/metrics", get(cluster::metrics))
        .route("/openapi.json", get(cluster::openapi))
        .fallback(|| async { ApiError::NotFound("route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            middleware::panic_response,
        ))
        .with_state(state)
}
