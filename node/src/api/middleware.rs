//! What every API response passes through: a deadline, the `X-Served-By` and
//! `X-Raft-Leader` headers, request counting, and a JSON 500 if a handler ever panics.

use std::any::Any;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Response as HttpResponse};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AppState, REQUEST_DEADLINE};
use crate::error::ApiError;

/// Applies the deadline, counts the request and stamps the cluster headers.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    let mut resp = match tokio::time::timeout(REQUEST_DEADLINE, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::Unavailable("request deadline exceeded".into()).into_response(),
    };
    state
        .metrics
        .count(method.as_str(), &route, resp.status().as_u16());
    let headers = resp.headers_mut();
    headers.insert("x-served-by", HeaderValue::from(state.node.settings.id));
    if let Some(l) = state.node.leader() {
        headers.insert("x-raft-leader", HeaderValue::from(l));
    }
    resp
}

/// The response sent if a handler panics: opaque 500 JSON (the panic itself is logged).
pub fn panic_response(err: Box<dyn Any + Send + 'static>) -> HttpResponse<axum::body::Body> {
    let detail = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    ApiError::Internal(format!("handler panicked: {detail}")).into_response()
}
