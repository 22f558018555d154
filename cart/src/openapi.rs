//! The service's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types' schemas (whose limits are the validation constants, see
//! `confeitaria_types::schema`), with the shared tail of `confeitaria_service::openapi`.
//!
//! [`routes`] is both the router and the document: a route cannot be added without its
//! operation, nor an operation without its route.

use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{api, internal, AppState};

/// The cart's own routes, each with its operation (not `/ready` and the tail: see [`document`]).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(api::add_item))
        .routes(routes!(api::remove_item))
        .routes(routes!(api::get_cart, api::delete_cart))
        .routes(routes!(internal::receive_event))
}

/// The document served at `/openapi.json`.
pub fn document() -> Value {
    confeitaria_service::openapi::Tail {
        title: "Confeitaria cart",
        description: "Shopping carts kept in Redis, one per session id, priced from the catalog.",
        version: env!("CARGO_PKG_VERSION"),
        ready:
            "The cart store answers; the body also names the order-event consumer state (events)",
    }
    .document(routes().split_for_parts().1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use confeitaria_service::openapi::{assert_complete, statuses};

    #[test]
    fn the_document_is_complete_and_its_operations_are_the_routes() {
        let want = [
            ("POST", "/api/carrinho/adicionar"),
            ("DELETE", "/api/carrinho/remover/{doce_id}"),
            ("GET", "/api/carrinho/{session_id}"),
            ("DELETE", "/api/carrinho/{session_id}"),
            ("POST", "/interno/eventos-pedido"),
        ];
        assert_complete(&document(), &want);
    }

    #[test]
    fn limits_are_the_validation_constants() {
        use confeitaria_types::cart::{QUANTIDADE_MAXIMA, QUANTIDADE_MINIMA, SESSION_ID_LEN};
        let doc = document();
        let q = &doc["components"]["schemas"]["Quantidade"];
        assert_eq!(q["minimum"], QUANTIDADE_MINIMA as f64);
        assert_eq!(q["maximum"], QUANTIDADE_MAXIMA as f64);
        assert_eq!(
            doc["components"]["schemas"]["SessionId"]["pattern"],
            format!("^[0-9a-fA-F]{{{SESSION_ID_LEN}}}$")
        );
        let add = &doc["components"]["schemas"]["AdicionarItem"];
        assert_eq!(add["additionalProperties"], false);
        assert_eq!(
            add["required"],
            serde_json::json!(["doce_id", "quantidade"])
        );
    }

    #[test]
    fn statuses_follow_the_error_mapping() {
        let doc = document();
        let s = |m, p| statuses(&doc, m, p).into_iter().collect::<Vec<_>>();
        assert_eq!(
            s("POST", "/api/carrinho/adicionar"),
            ["200", "400", "404", "409", "413", "503"]
        );
        assert_eq!(
            s("DELETE", "/api/carrinho/{session_id}"),
            ["204", "400", "404", "503"]
        );
        assert_eq!(
            s("POST", "/interno/eventos-pedido"),
            ["200", "400", "401", "403", "413", "503"]
        );
        assert_eq!(
            doc["paths"]["/interno/eventos-pedido"]["post"]["security"],
            serde_json::json!([{"servico": []}])
        );
    }
}
