//! Extractors whose rejections are the API's JSON errors, and the read-consistency query.

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use confeitaria_types::auth::{self, TokenRole};
use serde::Deserialize;
use std::borrow::Cow;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::AppState;
use crate::error::ApiError;

/// JSON body; malformed JSON, wrong types and oversize bodies become [`ApiError`]s.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Body<T>(pub T);

/// Path parameters, rejected as 400 `invalid_path`.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct PathParam<T>(pub T);

/// Query parameters, rejected as 400 `invalid_query`.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct QueryParams<T>(pub T);

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadLevel {
    /// Confirmed with a quorum through the leader's read index.
    #[default]
    Linearizable,
    /// This node's replica, possibly stale.
    Local,
}

/// `Consistency` in the document: the two levels, linearizable by default.
impl PartialSchema for ReadLevel {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["linearizable", "local"]))
            .default(Some(serde_json::json!("linearizable")))
            .into()
    }
}

impl ToSchema for ReadLevel {
    fn name() -> Cow<'static, str> {
        "Consistency".into()
    }
}

/// `?consistency=` plus paging, shared by every read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    /// Read level.
    #[serde(default)]
    pub consistency: ReadLevel,
    /// Page size (1..=100, default 20).
    pub limit: Option<u64>,
    /// Page start (default 0).
    pub offset: Option<u64>,
}

fn check_token(parts: &Parts, state: &AppState, role: TokenRole) -> Result<(), ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = auth::bearer(header)?;
    auth::verify(state.node.jwt_secret().expose(), token, role)?;
    Ok(())
}

/// Present only when the request carries a valid admin JWT.
#[derive(Debug)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        check_token(parts, state, TokenRole::Admin).map(|()| Admin)
    }
}

/// Present only when the request carries a valid service (or admin) JWT.
#[derive(Debug)]
pub struct Service;

impl FromRequestParts<AppState> for Service {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        check_token(parts, state, TokenRole::Service).map(|()| Service)
    }
}
