//! Which requests may be sent twice. A request that never reached an instance (the
//! connection was refused) may always go to another; one that may have been received is
//! repeated only when doing it twice is the same as doing it once:
//!
//! | request | repeatable | why |
//! |---|---|---|
//! | `GET`, `HEAD` (any upstream) | yes | reads change nothing |
//! | `PUT /api/produtos/{id}/estoque` `{"estoque": n}` | yes | sets an absolute value |
//! | `PUT /api/produtos/{id}/estoque` `{"delta": d}` | no | each copy adds `d` again |
//! | `POST /api/reservas`, `POST /api/reservas/{id}/confirmar`, `DELETE /api/reservas/{id}` | yes | idempotent by reservation id |
//! | `POST /api/produtos`, `POST /api/categorias`, `PUT /api/produtos/{id}` | no | creates or bumps a version each time |
//! | anything to the cart or orders | no (reads aside) | one instance each: nowhere else to go |

use axum::http::Method;
use serde_json::Value;

use crate::upstream::Group;

/// Whether `method path` with `body` may be repeated on another instance after an attempt
/// whose outcome is unknown.
pub fn repeatable(group: Group, method: &Method, path: &str, body: &[u8]) -> bool {
    if method == Method::GET || method == Method::HEAD {
        return true;
    }
    if group != Group::Catalog {
        return false;
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("PUT", ["api", "produtos", _, "estoque"]) => sets_absolute_stock(body),
        ("POST", ["api", "reservas"]) => true,
        ("POST", ["api", "reservas", _, "confirmar"]) => true,
        ("DELETE", ["api", "reservas", _]) => true,
        _ => false,
    }
}

/// `{"estoque": n}` and nothing that adjusts.
fn sets_absolute_stock(body: &[u8]) -> bool {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => m.contains_key("estoque") && !m.contains_key("delta"),
        _ => false,
    }
}

/// Whether the request reads (and so may go to any node, not only the leader).
pub fn is_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_safety_table() {
        let c = Group::Catalog;
        let cases: &[(Group, Method, &str, &str, bool)] = &[
            (c, Method::GET, "/api/produtos/1", "", true),
            (c, Method::HEAD, "/api/produtos", "", true),
            (
                c,
                Method::PUT,
                "/api/produtos/1/estoque",
                r#"{"estoque": 5}"#,
                true,
            ),
            (
                c,
                Method::PUT,
                "/api/produtos/1/estoque",
                r#"{"delta": 5}"#,
                false,
            ),
            (
                c,
                Method::PUT,
                "/api/produtos/1/estoque",
                r#"{"estoque":1,"delta":1}"#,
                false,
            ),
            (c, Method::PUT, "/api/produtos/1/estoque", "not json", false),
            (c, Method::POST, "/api/produtos", r#"{"nome":"x"}"#, false),
            (c, Method::PUT, "/api/produtos/1", r#"{"nome":"x"}"#, false),
            (c, Method::POST, "/api/categorias", "{}", false),
            (c, Method::POST, "/api/reservas", "{}", true),
            (c, Method::POST, "/api/reservas/r1/confirmar", "", true),
            (c, Method::DELETE, "/api/reservas/r1", "", true),
            (Group::Cart, Method::GET, "/api/carrinho/abc", "", true),
            (
                Group::Cart,
                Method::POST,
                "/api/carrinho/adicionar",
                "{}",
                false,
            ),
            (Group::Orders, Method::POST, "/api/pedidos", "{}", false),
        ];
        for (g, m, p, b, want) in cases {
            assert_eq!(repeatable(*g, m, p, b.as_bytes()), *want, "{m} {p} {b}");
        }
    }
}
