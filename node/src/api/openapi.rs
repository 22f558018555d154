//! The node's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types' schemas (whose limits are the command validation constants,
//! see `confeitaria_types::schema`), with the shared tail of `confeitaria_service::openapi`.
//!
//! [`member_routes`] and [`status_routes`] are both the router and the document: a route
//! cannot be added without its operation, nor an operation without its route.

use serde_json::Value;
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::catalog::{self, PageLimit, PageOffset};
use super::cluster;
use super::extract::ReadLevel;
use super::AppState;

/// The routes a node removed from the membership refuses (503 `not_a_member`), each with its
/// operation. `/ready` is added beside them by the router, and documented by the tail.
pub fn member_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(catalog::list_products, catalog::create_product))
        .routes(routes!(catalog::get_product, catalog::update_product))
        .routes(routes!(catalog::get_stock, catalog::change_stock))
        .routes(routes!(catalog::products_in_category))
        .routes(routes!(catalog::list_categories, catalog::create_category))
        .routes(routes!(catalog::reserve))
        .routes(routes!(catalog::get_reservation, catalog::release))
        .routes(routes!(catalog::confirm))
        .routes(routes!(catalog::close))
        .routes(routes!(cluster::add_member))
        .routes(routes!(cluster::remove_member))
}

/// The routes a removed node still serves: its status and the members it knows.
pub fn status_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cluster::status))
        .routes(routes!(cluster::members))
}

/// The document served at `/openapi.json`.
pub fn document() -> Value {
    let mut doc = member_routes().merge(status_routes()).into_openapi();
    // Parameter schemas are not collected by utoipa; the node's own go in here (the shared
    // ones are added by the tail).
    let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
    schemas.insert(PageLimit::name().into_owned(), PageLimit::schema());
    schemas.insert(PageOffset::name().into_owned(), PageOffset::schema());
    schemas.insert(ReadLevel::name().into_owned(), ReadLevel::schema());
    confeitaria_service::openapi::Tail {
        title: "Confeitaria catalog node",
        description: "Served by every catalog node, voter or learner. Writes sent to a follower or a learner are forwarded to the Raft leader; responses carry X-Served-By and X-Raft-Leader, reads X-Raft-Applied-Index. A node removed from the membership answers 503 not_a_member, naming the members, to everything but /health, /metrics, /openapi.json, /cluster/status and GET /cluster/members.",
        version: env!("CARGO_PKG_VERSION"),
        ready: "A leader is known and this node is caught up",
    }
    .document(doc)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::api::catalog::{DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET};
    use confeitaria_service::openapi::{assert_complete, statuses, ADMIN, SERVICE};
    use confeitaria_types::catalog::{
        DESCRICAO_MAX, MAX_ESTOQUE, MAX_ITENS_RESERVA, MAX_PRECO_CENTAVOS, MAX_QUANTIDADE,
        NOME_CATEGORIA_MAX, NOME_DOCE_MAX, RESERVA_ID_MAX, SLUG_MAX,
    };
    use serde_json::json;

    /// `schema`, or what its `$ref` (possibly behind a `oneOf` with null) points at.
    fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
        let schema = match schema["oneOf"].as_array() {
            Some(any) => any.iter().find(|s| s["type"] != "null").unwrap(),
            None => schema,
        };
        match schema["$ref"].as_str() {
            Some(r) => resolve(doc, doc.pointer(&r[1..]).unwrap()),
            None => schema,
        }
    }

    fn field<'a>(doc: &'a Value, schema: &str, name: &str) -> &'a Value {
        resolve(
            doc,
            &doc["components"]["schemas"][schema]["properties"][name],
        )
    }

    fn param<'a>(doc: &'a Value, method: &str, path: &str, name: &str) -> &'a Value {
        let op = &doc["paths"][path][method];
        let p = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"));
        resolve(doc, &p["schema"])
    }

    #[test]
    fn the_document_is_complete_and_its_operations_are_the_routes() {
        let want = [
            ("GET", "/api/produtos"),
            ("POST", "/api/produtos"),
            ("GET", "/api/produtos/{id}"),
            ("PUT", "/api/produtos/{id}"),
            ("GET", "/api/produtos/{id}/estoque"),
            ("PUT", "/api/produtos/{id}/estoque"),
            ("GET", "/api/produtos/categoria/{categoria}"),
            ("GET", "/api/categorias"),
            ("POST", "/api/categorias"),
            ("POST", "/api/reservas"),
            ("GET", "/api/reservas/{id}"),
            ("DELETE", "/api/reservas/{id}"),
            ("POST", "/api/reservas/{id}/confirmar"),
            ("POST", "/api/reservas/{id}/encerrar"),
            ("GET", "/cluster/status"),
            ("GET", "/cluster/members"),
            ("POST", "/cluster/members"),
            ("DELETE", "/cluster/members/{id}"),
        ];
        assert_complete(&document(), &want);
    }

    /// The limits the document states are the ones the commands and handlers check.
    #[test]
    fn limits_are_the_validation_constants() {
        let doc = document();
        let d = &doc;
        let checks = [
            (
                &param(d, "get", "/api/produtos", "limit")["maximum"],
                json!(MAX_LIMIT),
            ),
            (
                &param(d, "get", "/api/produtos", "limit")["minimum"],
                json!(1),
            ),
            (
                &param(d, "get", "/api/produtos", "limit")["default"],
                json!(DEFAULT_LIMIT),
            ),
            (
                &param(d, "get", "/api/produtos", "offset")["maximum"],
                json!(MAX_OFFSET),
            ),
            (
                &field(d, "NovoDoce", "preco_centavos")["maximum"],
                json!(MAX_PRECO_CENTAVOS),
            ),
            (
                &field(d, "AtualizaDoce", "preco_centavos")["maximum"],
                json!(MAX_PRECO_CENTAVOS),
            ),
            (
                &field(d, "NovoDoce", "estoque")["maximum"],
                json!(MAX_ESTOQUE),
            ),
            (
                &field(d, "NovoDoce", "nome")["maxLength"],
                json!(NOME_DOCE_MAX),
            ),
            (&field(d, "NovoDoce", "nome")["minLength"], json!(1)),
            (
                &field(d, "AtualizaDoce", "nome")["maxLength"],
                json!(NOME_DOCE_MAX),
            ),
            (
                &field(d, "NovoDoce", "descricao")["maxLength"],
                json!(DESCRICAO_MAX),
            ),
            (
                &field(d, "AtualizaDoce", "descricao")["maxLength"],
                json!(DESCRICAO_MAX),
            ),
            (
                &field(d, "NovoDoce", "categoria")["maxLength"],
                json!(SLUG_MAX),
            ),
            (
                &field(d, "AtualizaDoce", "categoria")["maxLength"],
                json!(SLUG_MAX),
            ),
            (&field(d, "Categoria", "slug")["maxLength"], json!(SLUG_MAX)),
            (
                &field(d, "Categoria", "slug")["pattern"],
                json!(format!("^[a-z0-9-]{{1,{SLUG_MAX}}}$")),
            ),
            (
                &field(d, "Categoria", "nome")["maxLength"],
                json!(NOME_CATEGORIA_MAX),
            ),
            (
                &field(d, "EstoqueUpdate", "estoque")["maximum"],
                json!(MAX_ESTOQUE),
            ),
            (
                &field(d, "EstoqueUpdate", "delta")["maximum"],
                json!(MAX_ESTOQUE),
            ),
            (
                &field(d, "EstoqueUpdate", "delta")["minimum"],
                json!(-(MAX_ESTOQUE as i64)),
            ),
            (
                &field(d, "ItemReserva", "quantidade")["maximum"],
                json!(MAX_QUANTIDADE),
            ),
            (&field(d, "ItemReserva", "quantidade")["minimum"], json!(1)),
            (
                &field(d, "NovaReserva", "itens")["maxItems"],
                json!(MAX_ITENS_RESERVA),
            ),
            (&field(d, "NovaReserva", "itens")["minItems"], json!(1)),
            (
                &field(d, "NovaReserva", "id")["pattern"],
                json!(format!("^[A-Za-z0-9_-]{{1,{RESERVA_ID_MAX}}}$")),
            ),
            (
                &param(d, "delete", "/api/reservas/{id}", "id")["pattern"],
                json!(format!("^[A-Za-z0-9_-]{{1,{RESERVA_ID_MAX}}}$")),
            ),
        ];
        for (i, (stated, checked)) in checks.iter().enumerate() {
            assert_eq!(
                stated.as_f64(),
                checked.as_f64(),
                "limit {i}: {stated} vs {checked}"
            );
            if checked.is_string() {
                assert_eq!(*stated, checked, "limit {i}");
            }
        }
        // The wire names, the closed bodies and the one-of rule of a stock change.
        let s = &doc["components"]["schemas"];
        let update = &s["EstoqueUpdate"];
        assert_eq!(update["additionalProperties"], false);
        assert_eq!(
            update["oneOf"],
            json!([{"required": ["estoque"]}, {"required": ["delta"]}])
        );
        for body in [
            "NovoDoce",
            "AtualizaDoce",
            "NovaReserva",
            "ItemReserva",
            "NovoMembro",
        ] {
            assert_eq!(s[body]["additionalProperties"], false, "{body}");
        }
        assert_eq!(
            s["NovoDoce"]["required"],
            json!(["nome", "preco_centavos", "categoria"])
        );
        assert_eq!(s["NovaReserva"]["required"], json!(["id", "itens"]));
        assert_eq!(s["NovoMembro"]["properties"]["role"]["default"], "voter");
        assert_eq!(s["NovoDoce"]["properties"]["ativo"]["default"], true);
        assert_eq!(
            param(d, "get", "/api/reservas/{id}", "consistency")["enum"],
            json!(["linearizable", "local"])
        );
    }

    #[test]
    fn statuses_follow_the_error_mapping() {
        let doc = document();
        let s = |m, p| statuses(&doc, m, p).into_iter().collect::<Vec<_>>();
        let read = ["200", "400", "404", "503"];
        for path in [
            "/api/produtos",
            "/api/produtos/{id}",
            "/api/produtos/{id}/estoque",
        ] {
            assert_eq!(s("GET", path), read, "{path}");
        }
        assert_eq!(
            s("POST", "/api/produtos"),
            ["201", "400", "401", "403", "404", "409", "413", "503"]
        );
        assert_eq!(
            s("PUT", "/api/produtos/{id}/estoque"),
            ["200", "400", "401", "403", "404", "409", "413", "503"]
        );
        assert_eq!(
            s("POST", "/api/reservas"),
            ["201", "400", "401", "404", "409", "413", "503"]
        );
        assert_eq!(
            s("DELETE", "/api/reservas/{id}"),
            ["200", "400", "401", "404", "409", "503"]
        );
        let release = &doc["paths"]["/api/reservas/{id}"]["delete"];
        assert!(release["responses"]["409"]["description"]
            .as_str()
            .unwrap()
            .starts_with("reservation_closed"));
        assert!(release["description"]
            .as_str()
            .unwrap()
            .contains("liberada"));
        assert_eq!(
            s("DELETE", "/cluster/members/{id}"),
            ["200", "400", "401", "403", "404", "409", "503"]
        );
        assert_eq!(s("GET", "/cluster/status"), ["200", "503"]);
        assert_eq!(s("GET", "/ready"), ["200", "503"]);
        // Every 503 carries Retry-After.
        assert!(
            doc["components"]["responses"]["Unavailable"]["headers"]["Retry-After"].is_object()
        );
        assert_eq!(
            doc["paths"]["/api/produtos"]["post"]["security"],
            json!([{ADMIN: []}])
        );
        assert_eq!(
            doc["paths"]["/api/reservas"]["post"]["security"],
            json!([{SERVICE: []}, {ADMIN: []}])
        );
        assert!(doc["paths"]["/api/produtos"]["get"]["security"].is_null());
    }
}
