//! The service's OpenAPI 3.1 document, written by hand (no build step may download assets).

use serde_json::{json, Value};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn pedido_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pedido"}}}
    })
}

/// The document served at `/openapi.json`.
pub fn document() -> Value {
    let id = json!({"name": "id", "in": "path", "required": true,
                    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}});
    let session = json!({"name": "X-Session-Id", "in": "header", "required": false,
                         "description": "the owner's session id (or an admin bearer token)",
                         "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"}});
    let unavailable = error_response("catalog or cart unavailable (has Retry-After)");
    let status_enum = json!([
        "pendente",
        "confirmado",
        "pago",
        "enviado",
        "entregue",
        "cancelado",
        "rejeitado"
    ]);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Confeitaria orders",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Orders as event logs; a crash-proof stock saga against the catalog; events published to the Redis stream pedidos:eventos through an outbox."
        },
        "paths": {
            "/api/pedidos": {"post": {
                "summary": "Check out a cart",
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": true,
                                "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]{1,200}$"},
                                "description": "1 to 200 visible ASCII characters; the same key and body make one order"}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["session_id"], "additionalProperties": false,
                    "properties": {"session_id": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"}}}}}},
                "responses": {
                    "201": pedido_response("order created: confirmado, or rejeitado with rejeicao"),
                    "200": pedido_response("replay of the same key and body (Idempotent-Replayed: true)"),
                    "400": error_response("bad JSON, session id or key"),
                    "404": error_response("cart_not_found"),
                    "409": error_response("empty_cart"),
                    "413": error_response("body too large"),
                    "422": error_response("idempotency_key_reused: same key, different body"),
                    "503": unavailable
                }
            }},
            "/api/pedidos/{id}": {"get": {
                "summary": "One order (owner's X-Session-Id or admin)",
                "parameters": [id, session],
                "responses": {"200": pedido_response("the order"),
                              "401": error_response("no credentials"),
                              "404": error_response("unknown order or not this session's")}
            }},
            "/api/pedidos/{id}/eventos": {"get": {
                "summary": "The order's event log (owner's X-Session-Id or admin)",
                "parameters": [id, session],
                "responses": {"200": {"description": "events, oldest first", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"pedido_id": {"type": "string"},
                    "eventos": {"type": "array", "items": {"$ref": "#/components/schemas/EventoPedido"}}}}}}},
                              "404": error_response("unknown order")}
            }},
            "/api/pedidos/{id}/eventos/stream": {"get": {
                "summary": "The order's events live, as Server-Sent Events (owner's X-Session-Id or admin): the events after Last-Event-ID first, then each new one; keep-alive comments every 10 s; ends on shutdown",
                "parameters": [id, session,
                    {"name": "Last-Event-ID", "in": "header", "required": false,
                     "schema": {"type": "string"}, "description": "the seq of the last event seen"}],
                "responses": {"200": {"description": "text/event-stream; each event has id: <seq>, event: pedido, data: the EventoPedido as JSON plus status (the order's status after it)",
                                      "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                              "404": error_response("unknown order")}
            }},
            "/api/pedidos/{id}/status": {"put": {
                "summary": "Change status (admin bearer token)",
                "parameters": [id],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["status"], "additionalProperties": false,
                    "properties": {"status": {"enum": status_enum}}}}}},
                "responses": {"200": pedido_response("the order after the change (unchanged if it already had that status)"),
                              "400": error_response("invalid_json: no body, or no known status"),
                              "401": error_response("no or bad token"), "403": error_response("not admin"),
                              "404": error_response("unknown order"),
                              "409": error_response("illegal_transition or operation_in_progress"),
                              "503": unavailable}
            }},
            "/health": {"get": {"summary": "alive", "responses": {"200": {"description": "ok"}}}},
            "/ready": {"get": {"summary": "the catalog answers with a leader", "responses": {
                "200": {"description": "ready; publishing = connected|disconnected|disabled, delivery = redis|direct, outbox_pending"},
                "503": error_response("catalog unavailable")}}},
            "/metrics": {"get": {"summary": "Prometheus text", "responses": {"200": {"description": "metrics"}}}},
            "/openapi.json": {"get": {"summary": "this document", "responses": {"200": {"description": "OpenAPI 3.1"}}}}
        },
        "components": {"schemas": {
            "Error": {"type": "object", "properties": {"error": {"type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
            "Pedido": {"type": "object", "properties": {
                "id": {"type": "string"}, "session_id": {"type": "string"},
                "itens": {"type": "array", "items": {"type": "object", "properties": {
                    "doce_id": {"type": "integer"}, "nome": {"type": "string"},
                    "preco_centavos": {"type": "integer"}, "quantidade": {"type": "integer"},
                    "subtotal_centavos": {"type": "integer"}}}},
                "total_centavos": {"type": "integer"},
                "status": {"enum": status_enum},
                "criado_em": {"type": "string", "format": "date-time"},
                "atualizado_em": {"type": "string", "format": "date-time"},
                "rejeicao": {"type": "object", "properties": {"code": {"type": "string"},
                    "doce_id": {"type": "integer"}, "message": {"type": "string"}}}}},
            "EventoPedido": {"type": "object", "properties": {
                "id": {"type": "string", "description": "{pedido_id}:{seq}"},
                "pedido_id": {"type": "string"}, "seq": {"type": "integer"},
                "em": {"type": "string", "format": "date-time"},
                "tipo": {"enum": ["criado", "confirmado", "rejeitado", "pagamento_solicitado", "pago",
                                  "cancelamento_solicitado", "cancelado", "acao_abortada", "enviado", "entregue"]}}}
        }}
    })
}
