//! The gateway's own OpenAPI 3.1 document, generated from its handlers' `#[utoipa::path]`
//! annotations with the shared tail of `confeitaria_service::openapi`. It describes the
//! gateway's own endpoints; the routes it passes through are named with their upstream under
//! `x-passed-through`, since their contracts are the upstreams' own documents (a path there
//! with every method would promise what no upstream answers).
//!
//! [`routes`] is both the router of the gateway's own endpoints and their document: a route
//! cannot be added without its operation, nor an operation without its route.

use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{painel, proxy, Gateway};

/// The gateway's own routes, each with its operation (not `/ready`, the tail, nor the
/// passed-through routes: see [`document`]).
pub fn routes() -> OpenApiRouter<Gateway> {
    OpenApiRouter::new()
        .routes(routes!(crate::vitrine_provisoria))
        .routes(routes!(painel::page))
        .routes(routes!(painel::eventos))
        .routes(routes!(painel::entrar))
        .routes(routes!(painel::sair))
        .routes(routes!(painel::controlar))
}

/// The passed-through routes with their upstream ([`proxy::PASSED_THROUGH`]), and what every
/// one may answer besides its upstream's own answers.
fn passed_through() -> Value {
    let routes: serde_json::Map<String, Value> = proxy::PASSED_THROUGH
        .iter()
        .map(|(path, group, get_only)| {
            let route = if *get_only {
                format!("GET {path}")
            } else {
                (*path).to_owned()
            };
            (route, json!(group.name()))
        })
        .collect();
    json!({
        "routes": routes,
        "description": "Methods, bodies, statuses and headers pass through unchanged; every answer carries X-Upstream and X-Request-Id. The gateway itself may answer 429 rate_limited, 502 bad_gateway (connection broken, outcome unknown) and 503 upstream_unavailable, upstream_timeout, overloaded or timeout, with Retry-After."
    })
}

/// The document served at `/openapi.json`.
pub fn document() -> Value {
    let mut doc = confeitaria_service::openapi::Tail {
        title: "Confeitaria gateway",
        description: "The shop's front door: routes /api and /cluster to the catalog nodes, the cart and orders; serves the live cluster dashboard.",
        version: env!("CARGO_PKG_VERSION"),
        ready: "A catalog node, the cart and orders each answered the latest probe (503 not_ready names which did not, under error.upstreams)",
    }
    .document(routes().split_for_parts().1);
    doc["x-passed-through"] = passed_through();
    doc
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use confeitaria_service::openapi::{assert_complete, statuses};

    #[test]
    fn the_document_is_complete_and_its_operations_are_the_own_routes() {
        let want = [
            ("GET", "/"),
            ("GET", "/painel"),
            ("GET", "/painel/eventos"),
            ("POST", "/painel/entrar"),
            ("POST", "/painel/sair"),
            ("POST", "/painel/nos/{id}/{acao}"),
        ];
        assert_complete(&document(), &want);
    }

    #[test]
    fn the_passed_through_routes_are_the_routers() {
        let doc = document();
        let routes = doc["x-passed-through"]["routes"].as_object().unwrap();
        assert_eq!(routes.len(), proxy::PASSED_THROUGH.len());
        assert_eq!(routes["GET /cluster/{*rest}"], "catalog");
        assert_eq!(routes["/api/carrinho/{*rest}"], "cart");
        assert_eq!(routes["/api/pedidos"], "orders");
    }

    #[test]
    fn node_control_names_its_actions_and_statuses() {
        let doc = document();
        assert_eq!(
            doc["components"]["schemas"]["Acao"]["enum"],
            json!(["parar", "iniciar"])
        );
        let s: Vec<String> = statuses(&doc, "POST", "/painel/nos/{id}/{acao}")
            .into_iter()
            .collect();
        assert_eq!(s, ["200", "401", "404", "409", "503"]);
    }
}
