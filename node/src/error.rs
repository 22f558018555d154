//! The API's error type and its one `IntoResponse`: docs/design.md's JSON error body with the
//! right status. 5xx bodies never carry internals; the detail is logged here instead.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use confeitaria_service::http::Refusal;
use confeitaria_types::auth::AuthError;
use confeitaria_types::ErrorBody;
use raft_store::CommandError;

/// Every way an API call can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed input (400).
    #[error("{code}: {message}")]
    BadRequest {
        /// Error code.
        code: String,
        /// What is wrong.
        message: String,
    },
    /// Unknown id or route (404).
    #[error("{0} not found")]
    NotFound(String),
    /// Method not allowed on this route (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Business conflict (409).
    #[error("{code}: {message}")]
    Conflict {
        /// Error code.
        code: String,
        /// What conflicts.
        message: String,
        /// The product it is about, when there is one (`insufficient_stock`,
        /// `inactive_product`).
        doce_id: Option<u64>,
    },
    /// Body over the limit (413).
    #[error("request body too large")]
    TooLarge,
    /// Missing, invalid or insufficient token (401/403).
    #[error("{0}")]
    Auth(#[from] AuthError),
    /// No leader known within the wait (503, `Retry-After`).
    #[error("no leader")]
    NoLeader,
    /// A dependency (a peer, the quorum) did not answer in time (503, `Retry-After`).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// This node was removed from the membership (503, `not_a_member`); the members now.
    #[error("not a member")]
    NotAMember(confeitaria_types::Membership),
    /// A bug or a storage failure (500, opaque).
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 with code `invalid_field`.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code: "invalid_field".into(),
            message: message.into(),
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        let message = e.to_string();
        let doce_id = e.doce_id();
        match e {
            CommandError::Invalid { code, .. } => ApiError::BadRequest { code, message },
            CommandError::NotFound { what } => ApiError::NotFound(what),
            CommandError::InsufficientStock { .. } => ApiError::Conflict {
                code: "insufficient_stock".into(),
                message,
                doce_id,
            },
            CommandError::InactiveProduct { .. } => ApiError::Conflict {
                code: "inactive_product".into(),
                message,
                doce_id,
            },
            CommandError::Conflict { code, .. } => ApiError::Conflict {
                code,
                message,
                doce_id,
            },
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::RouteNotFound => ApiError::NotFound("route".into()),
            Refusal::MethodNotAllowed => ApiError::MethodNotAllowed,
            Refusal::Timeout => ApiError::Unavailable("request deadline exceeded".into()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::TooLarge;
        }
        let code = match r {
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            JsonRejection::JsonSyntaxError(_) => "malformed_json",
            _ => "invalid_field",
        };
        ApiError::BadRequest {
            code: code.into(),
            message: r.body_text(),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::BadRequest {
            code: "invalid_path".into(),
            message: r.body_text(),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest {
            code: "invalid_query".into(),
            message: r.body_text(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let doce_id = match &self {
            ApiError::Conflict { doce_id, .. } => *doce_id,
            _ => None,
        };
        let (status, code, message) = match &self {
            ApiError::BadRequest { code, message } => {
                (StatusCode::BAD_REQUEST, code.as_str(), message.clone())
            }
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this path".into(),
            ),
            ApiError::Conflict { code, message, .. } => {
                (StatusCode::CONFLICT, code.as_str(), message.clone())
            }
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body too large".into(),
            ),
            ApiError::Auth(AuthError::Forbidden) => {
                (StatusCode::FORBIDDEN, "forbidden", self.to_string())
            }
            ApiError::Auth(_) => (StatusCode::UNAUTHORIZED, "unauthorized", self.to_string()),
            ApiError::NoLeader => (
                StatusCode::SERVICE_UNAVAILABLE,
                "no_leader",
                "the cluster has no leader yet; retry shortly".into(),
            ),
            ApiError::Unavailable(detail) => {
                tracing::warn!(%detail, "answering 503");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the catalog cannot answer right now; retry shortly".into(),
                )
            }
            ApiError::NotAMember(members) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "not_a_member",
                format!(
                    "this node was removed from the catalog cluster; ask a member: {}",
                    crate::standing::describe(members)
                ),
            ),
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "answering 500");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error".into(),
                )
            }
        };
        let mut resp = (
            status,
            Json(ErrorBody::new(code, message).with_doce_id(doce_id)),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        resp
    }
}
