//! [`OrdersError`], the one error of the service, and its JSON response
//! `{"error": {"code", "message"}}`. 5xx bodies are opaque; their detail is logged here.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use confeitaria_service::http::Refusal;
use confeitaria_types::auth::AuthError;
use confeitaria_types::ErrorBody;

use crate::store::StoreError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    /// The body is not the expected JSON (400 `invalid_json`).
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// A field or header is malformed (400).
    #[error("{message}")]
    Invalid {
        /// Error code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// The body exceeds the limit (413).
    #[error("request body too large")]
    PayloadTooLarge,
    /// `Idempotency-Key` was used before with another body (422).
    #[error("this Idempotency-Key was used with a different request body")]
    IdempotencyKeyReused,
    /// Missing or invalid credentials (401, 403).
    #[error("{0}")]
    Auth(#[from] AuthError),
    /// No such order, or not the caller's (404).
    #[error("order not found")]
    NotFound,
    /// No such route (404).
    #[error("no such route")]
    RouteNotFound,
    /// The route does not take this method (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The session has no cart (404 `cart_not_found`).
    #[error("the session has no cart")]
    CartNotFound,
    /// The cart has no lines (409 `empty_cart`).
    #[error("the cart is empty")]
    EmptyCart,
    /// A status change docs/design.md does not allow (409 `illegal_transition`).
    #[error("{0}")]
    IllegalTransition(String),
    /// Another step of the order is under way (409 `operation_in_progress`).
    #[error("another step of this order is under way")]
    OperationInProgress,
    /// The catalog refused a step for good (409, the catalog's code).
    #[error("{message}")]
    Conflict {
        /// The catalog's code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The catalog did not answer in time; the step stays logged and will be finished
    /// (503 `catalog_unavailable`).
    #[error("the catalog is unavailable; the order will be completed")]
    CatalogUnavailable(String),
    /// The cart service did not answer (503 `cart_unavailable`).
    #[error("the cart service is unavailable")]
    CartUnavailable(String),
    /// The request took longer than its deadline (503 `timeout`).
    #[error("the request took too long; retry with the same Idempotency-Key")]
    Timeout,
    /// The service is shutting down (503 `shutting_down`).
    #[error("the service is shutting down")]
    ShuttingDown,
    /// Storage failed (500, opaque).
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// Anything else (500, opaque).
    #[error("internal: {0}")]
    Internal(String),
}

impl OrdersError {
    /// Status and code of the response.
    pub fn status_and_code(&self) -> (StatusCode, &str) {
        match self {
            OrdersError::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            OrdersError::Invalid { code, .. } => (StatusCode::BAD_REQUEST, code),
            OrdersError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            OrdersError::IdempotencyKeyReused => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            OrdersError::Auth(AuthError::Forbidden) => (StatusCode::FORBIDDEN, "forbidden"),
            OrdersError::Auth(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            OrdersError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            OrdersError::RouteNotFound => (StatusCode::NOT_FOUND, "not_found"),
            OrdersError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            OrdersError::CartNotFound => (StatusCode::NOT_FOUND, "cart_not_found"),
            OrdersError::EmptyCart => (StatusCode::CONFLICT, "empty_cart"),
            OrdersError::IllegalTransition(_) => (StatusCode::CONFLICT, "illegal_transition"),
            OrdersError::OperationInProgress => (StatusCode::CONFLICT, "operation_in_progress"),
            OrdersError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            OrdersError::CatalogUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "catalog_unavailable")
            }
            OrdersError::CartUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "cart_unavailable")
            }
            OrdersError::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            OrdersError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
            OrdersError::Store(_) | OrdersError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

impl From<Refusal> for OrdersError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::RouteNotFound => OrdersError::RouteNotFound,
            Refusal::MethodNotAllowed => OrdersError::MethodNotAllowed,
            Refusal::Timeout => OrdersError::Timeout,
        }
    }
}

impl IntoResponse for OrdersError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            OrdersError::CatalogUnavailable(d) | OrdersError::CartUnavailable(d) => {
                tracing::warn!(detail = %d, "dependency unavailable");
                self.to_string()
            }
            _ if status.is_server_error() => {
                tracing::error!(error = %self, "request failed");
                "internal error".to_owned()
            }
            _ => self.to_string(),
        };
        let mut resp = (status, Json(ErrorBody::new(code, message))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    #[tokio::test]
    async fn server_errors_are_opaque_and_unavailability_says_when_to_retry() {
        let r = OrdersError::Internal("sled path /secret/x".into()).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let b: ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(b.error.code, "internal");
        assert!(!b.error.message.contains("secret"));
        let r = OrdersError::CatalogUnavailable("x".into()).into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let r = OrdersError::IdempotencyKeyReused.into_response();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}
