//! The gateway's own OpenAPI 3.1 document, written by hand (no build step may download UI
//! assets). It describes the gateway's own endpoints; the routes it passes through are named
//! with their upstream under `x-passed-through`, since their contracts are the upstreams' own
//! documents (a path there with every method would promise what no upstream answers).

use serde_json::{json, Value};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

/// What every passed-through route may answer besides its upstream's own answers.
fn passed_through(routes: &[(&str, &str)]) -> Value {
    let routes: serde_json::Map<String, Value> = routes
        .iter()
        .map(|(path, upstream)| ((*path).to_owned(), json!(upstream)))
        .collect();
    json!({
        "routes": routes,
        "description": "Methods, bodies, statuses and headers pass through unchanged; every answer carries X-Upstream and X-Request-Id. The gateway itself may answer 429 rate_limited, 502 bad_gateway (connection broken, outcome unknown) and 503 upstream_unavailable, upstream_timeout, overloaded or timeout, with Retry-After."
    })
}

/// The document served at `/openapi.json`.
pub fn document() -> Value {
    let id_param = json!({"name": "id", "in": "path", "required": true,
        "schema": {"type": "integer", "minimum": 1}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Confeitaria gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The shop's front door: routes /api and /cluster to the catalog nodes, the cart and orders; serves the live cluster dashboard."
        },
        "x-passed-through": passed_through(&[
            ("/api/produtos, /api/produtos/*", "catalog"),
            ("/api/categorias", "catalog"),
            ("/api/reservas, /api/reservas/*", "catalog"),
            ("GET /cluster/*", "catalog"),
            ("/api/carrinho/*", "cart"),
            ("/api/pedidos, /api/pedidos/*", "orders"),
        ]),
        "paths": {
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
                "responses": {"303": {"description": "Back to /painel (which says so if the token was wrong)"},
                              "400": {"description": "text/html: the body is not the login form"}}}},
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
