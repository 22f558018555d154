//! The service's OpenAPI 3.1 document, written by hand (no build step may download UI assets).

use serde_json::{json, Value};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn cart_response(description: &str) -> Value {
    json!({
        "description": description,
        "headers": {"X-Session-Id": {"schema": {"$ref": "#/components/schemas/SessionId"}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Carrinho"}}}
    })
}

/// The document served at `/openapi.json`.
pub fn document() -> Value {
    let session_header = |required: bool| {
        json!({
            "name": "X-Session-Id", "in": "header", "required": required,
            "schema": {"$ref": "#/components/schemas/SessionId"}
        })
    };
    let session_path = json!({
        "name": "session_id", "in": "path", "required": true,
        "schema": {"$ref": "#/components/schemas/SessionId"}
    });
    let unavailable = error_response("Redis or the catalog unavailable (has Retry-After)");
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Confeitaria cart",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Shopping carts kept in Redis, one per session id, priced from the catalog."
        },
        "paths": {
            "/api/carrinho/adicionar": {"post": {
                "summary": "Add units of a product to the session's cart (creating the session if no header is sent)",
                "parameters": [session_header(false)],
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/AdicionarItem"}}}},
                "responses": {
                    "200": cart_response("The cart after the add"),
                    "400": error_response("invalid_json, invalid_session or invalid_quantity"),
                    "404": error_response("product_not_found"),
                    "409": error_response("product_inactive, insufficient_stock, line_limit or cart_full"),
                    "413": error_response("payload_too_large"),
                    "503": unavailable
                }
            }},
            "/api/carrinho/remover/{doce_id}": {"delete": {
                "summary": "Remove a product's line from the session's cart",
                "parameters": [session_header(true),
                    {"name": "doce_id", "in": "path", "required": true,
                     "schema": {"type": "integer", "minimum": 0}}],
                "responses": {
                    "200": cart_response("The cart after the removal"),
                    "400": error_response("missing_session, invalid_session or invalid_id"),
                    "404": error_response("cart_not_found or item_not_found"),
                    "503": unavailable
                }
            }},
            "/api/carrinho/{session_id}": {
                "get": {
                    "summary": "Read a cart",
                    "parameters": [session_path],
                    "responses": {
                        "200": cart_response("The cart"),
                        "400": error_response("invalid_session"),
                        "404": error_response("cart_not_found"),
                        "503": unavailable
                    }
                },
                "delete": {
                    "summary": "Delete a cart",
                    "parameters": [session_path],
                    "responses": {
                        "204": {"description": "Deleted"},
                        "400": error_response("invalid_session"),
                        "404": error_response("cart_not_found"),
                        "503": unavailable
                    }
                }
            },
            "/interno/eventos-pedido": {"post": {
                "summary": "One order event delivered by orders directly (no Redis); idempotent by evento.id. Service bearer token.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["evento", "session_id"],
                    "properties": {"evento": {"$ref": "#/components/schemas/EventoPedido"}, "session_id": {"$ref": "#/components/schemas/SessionId"},
                                   "status": {"type": "string"}}}}}},
                "responses": {"200": {"description": "acknowledged: {resultado: emptied|no_cart|duplicate|ignored}"},
                              "400": error_response("malformed event"), "401": error_response("no or bad token"),
                              "503": unavailable}
            }},
            "/health": {"get": {"summary": "Alive", "responses": {"200": {"description": "ok"}}}},
            "/ready": {"get": {"summary": "Store reachable; the body also names the order-event consumer state (events)",
                "responses": {"200": {"description": "ready"}, "503": unavailable}}},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                "responses": {"200": {"description": "OpenMetrics text exposition"}}}},
            "/openapi.json": {"get": {"summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1"}}}}
        },
        "components": {"schemas": {
            "SessionId": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$",
                "description": "128-bit random id; the only key to a cart"},
            "EventoPedido": {"type": "object",
                "description": "An order event as orders records it (see orders' document); tipo names the variant, and criado, rejeitado and acao_abortada carry fields of their own",
                "required": ["id", "pedido_id", "seq", "em", "tipo"],
                "properties": {
                    "id": {"type": "string", "description": "{pedido_id}:{seq}, the key consumers deduplicate on"},
                    "pedido_id": {"type": "string"},
                    "seq": {"type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991_u64},
                    "em": {"type": "string", "description": "RFC 3339, UTC"},
                    "tipo": {"type": "string"}
                },
                "oneOf": [
                    {"properties": {"tipo": {"enum": ["confirmado", "pagamento_solicitado", "pago",
                        "cancelamento_solicitado", "cancelado", "enviado", "entregue"]}}},
                    {"required": ["session_id", "itens", "total_centavos"],
                     "properties": {"tipo": {"enum": ["criado"]}, "session_id": {"type": "string"},
                        "itens": {"type": "array", "items": {"$ref": "#/components/schemas/ItemPedido"}},
                        "total_centavos": {"type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991_u64}}},
                    {"required": ["rejeicao"],
                     "properties": {"tipo": {"enum": ["rejeitado"]}, "rejeicao": {"type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                            "doce_id": {"type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991_u64}}}}},
                    {"required": ["motivo"],
                     "properties": {"tipo": {"enum": ["acao_abortada"]}, "motivo": {"type": "string"}}}
                ]},
            "ItemPedido": {"type": "object",
                "required": ["doce_id", "nome", "preco_centavos", "quantidade", "subtotal_centavos"],
                "properties": {
                    "doce_id": {"type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991_u64},
                    "nome": {"type": "string"},
                    "preco_centavos": {"type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991_u64},
                    "quantidade": {"type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991_u64},
                    "subtotal_centavos": {"type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991_u64}
                }},
            "AdicionarItem": {"type": "object", "additionalProperties": false,
                "required": ["doce_id", "quantidade"],
                "properties": {
                    "doce_id": {"type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991_u64},
                    "quantidade": {"type": "integer", "minimum": 1, "maximum": 99}
                }},
            "ItemCarrinho": {"type": "object",
                "required": ["doce_id", "nome", "preco_centavos", "quantidade", "subtotal_centavos"],
                "properties": {
                    "doce_id": {"type": "integer"},
                    "nome": {"type": "string"},
                    "preco_centavos": {"type": "integer"},
                    "quantidade": {"type": "integer", "minimum": 1, "maximum": 99},
                    "subtotal_centavos": {"type": "integer"}
                }},
            "Carrinho": {"type": "object",
                "required": ["session_id", "itens", "total_centavos", "expira_em"],
                "properties": {
                    "session_id": {"$ref": "#/components/schemas/SessionId"},
                    "itens": {"type": "array", "maxItems": 50,
                        "items": {"$ref": "#/components/schemas/ItemCarrinho"}},
                    "total_centavos": {"type": "integer"},
                    "expira_em": {"type": "string", "format": "date-time"}
                }},
            "Error": {"type": "object", "required": ["error"],
                "properties": {"error": {"type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}
        }}
    })
}
