//! The node's own layer over the shared tail: the `X-Served-By` and `X-Raft-Leader` headers
//! on every response, 503 `not_a_member` from a node removed from the membership, and a JSON
//! 500 if a handler ever panics.

use std::any::Any;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Response as HttpResponse};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::raft_node::CatalogNode;

/// Stamps the cluster headers: which node answered, and the leader it knows.
pub async fn cluster_headers(
    State(node): State<Arc<CatalogNode>>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    headers.insert("x-served-by", HeaderValue::from(node.id()));
    if let Some(l) = node.leader() {
        headers.insert("x-raft-leader", HeaderValue::from(l));
    }
    resp
}

/// Answers 503 `not_a_member`, naming the members, when this node was removed.
pub async fn refuse_when_removed(
    State(node): State<Arc<CatalogNode>>,
    req: Request,
    next: Next,
) -> Response {
    match node.removed() {
        Some(members) => ApiError::NotAMember(members).into_response(),
        None => next.run(req).await,
    }
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
