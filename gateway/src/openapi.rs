//! The gateway's own OpenAPI 3.1 document, written by hand (no build step may download UI
//! assets). The routes it passes through are listed with their upstream; their full
//! contracts are the upstreams' own documents.

use serde_json::{json, Value};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn passed_through(upstream: &str, methods: &[&str]) -> Value {
    let mut ops = serde_json::Map::new();
    for m in methods {
        ops.insert(
            (*m).to_owned(),
            json!({
                "summary": format!("Passed through unchanged to {upstream}"),
                "responses": {
                    "default": {"description": format!("The {upstream} service's answer, with X-Upstream and X-Request-Id"),
                        "headers": {
                            "X-Upstream": {"schema": {"type": "string"}},
                            "X-Request-Id": {"schema": {"type": "string"}}
                        }},
                    "429": error_response("rate_limited (Retry-After)"),
                    "502": error_response("bad_gateway: connection broken, outcome unknown"),
                    "503": error_response("upstream_unavailable, upstream_timeout, overloaded or timeout (Retry-After)")
                }
            }),
        );
    }
    Value::Object(ops)
}

/// The document served at `/openapi.json`.
pub fn document() -> Value {
    let all = ["get", "post", "put", "delete"];
    let id_param = json!({"name": "id", "in": "path", "required": true,
        "schema": {"type": "integer", "minimum": 1}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Confeitaria gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The shop's front door: routes /api and /cluster to the catalog nodes, the cart and orders; serves the live cluster dashboard."
        },
        "paths": {
            "/api/produtos": passed_through("catalog", &all),
            "/api/produtos/{rest}": passed_through("catalog", &all),
            "/api/categorias": passed_through("catalog", &all),
            "/api/reservas": passed_through("catalog", &all),
            "/api/reservas/{rest}": passed_through("catalog", &all),
            "/cluster/{rest}": passed_through("catalog", &["get"]),
            "/api/carrinho/{rest}": passed_through("cart", &all),
            "/api/pedidos": passed_through("orders", &all),
            "/api/pedidos/{rest}": passed_through("orders", &all),
            "/health": {"get": {"summary": "Alive", "responses": {"200": {"description": "ok"}}}},
            "/ready": {"get": {"summary": "A catalog node, the cart and orders each answered the latest probe",
                "responses": {"200": {"description": "ready"}, "503": error_response("not_ready")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                "responses": {"200": {"description": "text exposition"}}}},
            "/openapi.json": {"get": {"summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/painel": {"get": {"summary": "Live cluster dashboard (HTML)",
                "responses": {"200": {"description": "text/html"}}}},
            "/painel/eventos": {"get": {"summary": "Server-Sent Events: an `estado` event every second",
                "responses": {"200": {"description": "text/event-stream"}}}},
            "/painel/entrar": {"post": {"summary": "Keep an admin token in an HttpOnly cookie",
                "requestBody": {"required": true, "content": {"application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}}}}},
                "responses": {"303": {"description": "Back to /painel"}}}},
            "/painel/sair": {"post": {"summary": "Forget the admin cookie",
                "responses": {"303": {"description": "Back to /painel"}}}},
            "/painel/nos/{id}/{acao}": {"post": {"summary": "Kill (parar) or start (iniciar) a catalog node (admin, under `confeitaria up`)",
                "parameters": [id_param, {"name": "acao", "in": "path", "required": true,
                    "schema": {"type": "string", "enum": ["parar", "iniciar"]}}],
                "responses": {
                    "200": {"description": "done"},
                    "401": error_response("unauthorized"),
                    "404": error_response("not_found"),
                    "409": error_response("no_control or control_failed")
                }}}
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error"],
                "properties": {"error": {"type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}
        }}
    })
}
