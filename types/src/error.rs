//! The JSON error body of every 4xx and 5xx: `{"error": {"code": "...", "message": "..."}}`.

use serde::{Deserialize, Serialize};

/// The outer error document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
}

/// A machine-readable code (snake_case English) and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// e.g. `insufficient_stock`, `not_found`, `no_leader`.
    pub code: String,
    /// Human-readable explanation; never internals.
    pub message: String,
}

impl ErrorBody {
    /// Builds an error body from a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
            },
        }
    }
}
