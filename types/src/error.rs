//! The JSON error body of every 4xx and 5xx: `{"error": {"code": "...", "message": "..."}}`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The outer error document (`Error` in the OpenAPI documents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
}

/// A machine-readable code (snake_case English) and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// e.g. `insufficient_stock`, `not_found`, `no_leader`.
    pub code: String,
    /// Human-readable explanation; never internals.
    pub message: String,
    /// The product the error is about, on `insufficient_stock` and `inactive_product`, so
    /// that no caller parses the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::Contagem>)]
    pub doce_id: Option<u64>,
}

impl ErrorBody {
    /// Builds an error body from a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                doce_id: None,
            },
        }
    }

    /// The same body naming the product it is about.
    pub fn with_doce_id(mut self, doce_id: Option<u64>) -> Self {
        self.error.doce_id = doce_id;
        self
    }
}
