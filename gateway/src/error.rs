//! [`GatewayError`]: everything the gateway itself refuses, answered as the shop's JSON error
//! body (`{"error": {"code", "message"}}`). Answers that come from an upstream pass through
//! untouched and never go through this type.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use confeitaria_service::http::Refusal;
use confeitaria_types::error::ErrorBody;

/// What the gateway answers on its own.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No route for this path (404 `not_found`).
    #[error("no such route")]
    NotFound,
    /// The path exists but not with this method (405 `method_not_allowed`).
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// The request outlived the gateway's deadline (503 `timeout`).
    #[error("the request took too long")]
    Timeout,
    /// No instance of the upstream could take the request (503 `upstream_unavailable`).
    #[error("the {0} service is unavailable; try again in a moment")]
    Unavailable(&'static str),
    /// The upstream did not answer within its timeout, and repeating the request elsewhere
    /// was not safe (503 `upstream_timeout`).
    #[error("the {0} service did not answer in time; the outcome is unknown")]
    UpstreamTimeout(&'static str),
    /// The connection broke after the request was sent, and repeating it was not safe
    /// (502 `bad_gateway`).
    #[error("the {0} service broke the connection; the outcome is unknown")]
    BadGateway(&'static str),
    /// Too many requests in flight to this upstream (503 `overloaded`).
    #[error("too many requests in flight; try again in a moment")]
    Overloaded,
    /// This client sent too many requests (429 `rate_limited`, `Retry-After` in seconds).
    #[error("too many requests from this client")]
    RateLimited(u64),
    /// The request body is larger than the gateway accepts (413 `payload_too_large`).
    #[error("request body too large")]
    TooLarge,
    /// The request body could not be read (400 `bad_request`).
    #[error("the request body could not be read")]
    BadBody,
    /// An admin token is needed (401 `unauthorized`).
    #[error("an admin token is required")]
    Unauthorized,
    /// The dashboard cannot control nodes here (409 `no_control`): not started by `up`.
    #[error("node control is only available when the gateway runs under `confeitaria up`")]
    NoControl,
    /// A kill or start failed (409 `control_failed`).
    #[error("{0}")]
    ControlFailed(String),
}

impl GatewayError {
    /// Status code and error code.
    pub fn status_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "upstream_unavailable"),
            Self::UpstreamTimeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "upstream_timeout"),
            Self::BadGateway(_) => (StatusCode::BAD_GATEWAY, "bad_gateway"),
            Self::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            Self::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::BadBody => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::NoControl => (StatusCode::CONFLICT, "no_control"),
            Self::ControlFailed(_) => (StatusCode::CONFLICT, "control_failed"),
        }
    }

    /// Seconds a client should wait before trying again, for the answers that have one.
    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Timeout | Self::Unavailable(_) | Self::UpstreamTimeout(_) | Self::Overloaded => {
                Some(1)
            }
            Self::RateLimited(s) => Some((*s).max(1)),
            _ => None,
        }
    }
}

impl From<Refusal> for GatewayError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::RouteNotFound => Self::NotFound,
            Refusal::MethodNotAllowed => Self::MethodNotAllowed,
            Refusal::Timeout => Self::Timeout,
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_code();
        let mut r = (status, Json(ErrorBody::new(code, self.to_string()))).into_response();
        if let Some(s) = self.retry_after() {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}
