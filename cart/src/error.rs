//! The service's one error type and the one place that turns it into an HTTP answer.
//!
//! 4xx bodies say what was wrong with the request; 5xx bodies are fixed, opaque sentences
//! and the detail goes to the log. Every 503 carries `Retry-After`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use confeitaria_service::http::Refusal;
use confeitaria_types::auth::AuthError;
use confeitaria_types::cart::{MAX_LINHAS, QUANTIDADE_MAXIMA, QUANTIDADE_MINIMA};
use confeitaria_types::ErrorBody;

use crate::catalog::CatalogError;
use crate::store::StoreError;

/// Seconds a client is told to wait before retrying a 503.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Everything a cart request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CartError {
    /// The body is not the JSON the endpoint expects (400 `invalid_json`).
    #[error("invalid JSON body: {0}")]
    InvalidJson(String),
    /// The body exceeds the size limit (413 `payload_too_large`).
    #[error("request body too large")]
    PayloadTooLarge,
    /// `X-Session-Id` is required here and absent (400 `missing_session`).
    #[error("the X-Session-Id header is required")]
    MissingSession,
    /// A session id that is not 32 hex characters (400 `invalid_session`).
    #[error("session id must be 32 hexadecimal characters")]
    InvalidSession,
    /// A product id in the path that is not an unsigned integer (400 `invalid_id`).
    #[error("product id must be an unsigned integer")]
    InvalidProductId,
    /// `quantidade` outside 1..=99 (400 `invalid_quantity`).
    #[error("quantidade must be between {QUANTIDADE_MINIMA} and {QUANTIDADE_MAXIMA}")]
    InvalidQuantity,
    /// No cart under this session id: never created, expired or deleted (404 `cart_not_found`).
    #[error("cart not found")]
    CartNotFound,
    /// The catalog has no such product (404 `product_not_found`).
    #[error("product {0} not found")]
    ProductNotFound(u64),
    /// The product is not a line of this cart (404 `item_not_found`).
    #[error("product {0} is not in the cart")]
    ItemNotFound(u64),
    /// The product exists but is not for sale (409 `product_inactive`).
    #[error("product {0} is not for sale")]
    ProductInactive(u64),
    /// The line would exceed what the catalog has available (409 `insufficient_stock`).
    #[error("product {doce_id}: {disponivel} available, {no_carrinho} already in the cart")]
    InsufficientStock {
        /// Product id.
        doce_id: u64,
        /// Units the catalog reported available.
        disponivel: u64,
        /// Units of it already in the cart.
        no_carrinho: u64,
    },
    /// The line would exceed 99 units (409 `line_limit`).
    #[error("product {doce_id}: a line holds at most {QUANTIDADE_MAXIMA} units, {no_carrinho} already in the cart")]
    LineLimit {
        /// Product id.
        doce_id: u64,
        /// Units of it already in the cart.
        no_carrinho: u64,
    },
    /// A new line would exceed 50 lines (409 `cart_full`).
    #[error("a cart holds at most {MAX_LINHAS} different products")]
    CartFull,
    /// A service call without a valid service token (401 `unauthorized`, 403 `forbidden`).
    #[error("{0}")]
    Auth(#[from] AuthError),
    /// No route for this path (404 `not_found`).
    #[error("no such route")]
    RouteNotFound,
    /// The path exists but not with this method (405 `method_not_allowed`).
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// Redis did not answer in time or refused (503 `store_unavailable`).
    #[error("cart store unavailable: {0}")]
    StoreUnavailable(String),
    /// No catalog node answered (503 `catalog_unavailable`).
    #[error("catalog unavailable: {0}")]
    CatalogUnavailable(String),
    /// The request exceeded the service's own deadline (503 `timeout`).
    #[error("request timed out")]
    Timeout,
    /// Anything else: a bug or a corrupt reply (500 `internal`).
    #[error("internal error: {0}")]
    Internal(String),
}

impl CartError {
    /// Status code and machine-readable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use CartError::*;
        match self {
            InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            MissingSession => (StatusCode::BAD_REQUEST, "missing_session"),
            InvalidSession => (StatusCode::BAD_REQUEST, "invalid_session"),
            InvalidProductId => (StatusCode::BAD_REQUEST, "invalid_id"),
            InvalidQuantity => (StatusCode::BAD_REQUEST, "invalid_quantity"),
            CartNotFound => (StatusCode::NOT_FOUND, "cart_not_found"),
            ProductNotFound(_) => (StatusCode::NOT_FOUND, "product_not_found"),
            ItemNotFound(_) => (StatusCode::NOT_FOUND, "item_not_found"),
            ProductInactive(_) => (StatusCode::CONFLICT, "product_inactive"),
            InsufficientStock { .. } => (StatusCode::CONFLICT, "insufficient_stock"),
            LineLimit { .. } => (StatusCode::CONFLICT, "line_limit"),
            CartFull => (StatusCode::CONFLICT, "cart_full"),
            Auth(AuthError::Forbidden) => (StatusCode::FORBIDDEN, "forbidden"),
            Auth(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            RouteNotFound => (StatusCode::NOT_FOUND, "not_found"),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            StoreUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            CatalogUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "catalog_unavailable"),
            Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// What the client is told: the error itself for 4xx, a fixed sentence for 5xx.
    fn public_message(&self) -> String {
        match self {
            CartError::StoreUnavailable(_) => {
                "the cart store is unavailable; retry shortly".to_owned()
            }
            CartError::CatalogUnavailable(_) => {
                "the catalog is unavailable; retry shortly".to_owned()
            }
            CartError::Timeout => "the request took too long; retry shortly".to_owned(),
            CartError::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        }
    }
}

impl IntoResponse for CartError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::warn!(code, error = %self, "request failed");
        }
        let body = ErrorBody::new(code, self.public_message());
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

impl From<Refusal> for CartError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::RouteNotFound => CartError::RouteNotFound,
            Refusal::MethodNotAllowed => CartError::MethodNotAllowed,
            Refusal::Timeout => CartError::Timeout,
        }
    }
}

impl From<StoreError> for CartError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => CartError::StoreUnavailable(m),
            StoreError::Corrupt(m) => CartError::Internal(m),
        }
    }
}

impl From<CatalogError> for CartError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Unavailable(m) => CartError::CatalogUnavailable(m),
            CatalogError::Unexpected(m) => CartError::Internal(m),
        }
    }
}
