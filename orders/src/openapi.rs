//! The service's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types' schemas (whose limits are the validation constants, see
//! `confeitaria_types::schema`), with the shared tail of `confeitaria_service::openapi`.
//!
//! [`routes`] is both the router and the document: a route cannot be added without its
//! operation, nor an operation without its route.

use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{api, stream, AppState};

/// The service's own routes, each with its operation (not `/ready` and the tail: see
/// [`document`]).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(api::create_order))
        .routes(routes!(api::get_order))
        .routes(routes!(api::list_events))
        .routes(routes!(stream::stream_events))
        .routes(routes!(api::change_status))
}

/// The document served at `/openapi.json`.
pub fn document() -> Value {
    confeitaria_service::openapi::Tail {
        title: "Confeitaria orders",
        description: "Orders as event logs; a crash-proof stock saga against the catalog; events published to the Redis stream pedidos:eventos through an outbox.",
        version: env!("CARGO_PKG_VERSION"),
        ready: "The catalog answers with a leader; the body also says publishing (connected, disconnected or disabled), delivery (redis or direct) and outbox_pending",
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
            ("POST", "/api/pedidos"),
            ("GET", "/api/pedidos/{id}"),
            ("GET", "/api/pedidos/{id}/eventos"),
            ("GET", "/api/pedidos/{id}/eventos/stream"),
            ("PUT", "/api/pedidos/{id}/status"),
        ];
        assert_complete(&document(), &want);
    }

    #[test]
    fn the_idempotency_key_limit_is_the_validation_constant() {
        let doc = document();
        let key = &doc["components"]["schemas"]["IdempotencyKey"];
        assert_eq!(
            key["maxLength"],
            confeitaria_types::orders::IDEMPOTENCY_KEY_MAX
        );
        assert!(confeitaria_types::orders::is_idempotency_key(
            &"k".repeat(confeitaria_types::orders::IDEMPOTENCY_KEY_MAX)
        ));
    }

    #[test]
    fn statuses_follow_the_error_mapping() {
        let doc = document();
        let s = |m, p| statuses(&doc, m, p).into_iter().collect::<Vec<_>>();
        assert_eq!(
            s("POST", "/api/pedidos"),
            ["200", "201", "400", "404", "409", "413", "422", "503"]
        );
        assert_eq!(
            s("PUT", "/api/pedidos/{id}/status"),
            ["200", "400", "401", "403", "404", "409", "413", "503"]
        );
        assert_eq!(
            doc["paths"]["/api/pedidos/{id}"]["get"]["security"],
            serde_json::json!([{"admin": []}, {}])
        );
    }
}
