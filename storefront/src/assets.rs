//! The storefront's static files, compiled into the binary: no CDN, no build step.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use crate::error::PageError;

const CSS: &str = include_str!("../static/loja.css");
const JS: &str = include_str!("../static/loja.js");
const ICON: &str = include_str!("../static/icone.svg");

/// `GET /static/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    let (kind, body) = match file.as_str() {
        "loja.css" => ("text/css; charset=utf-8", CSS),
        "loja.js" => ("text/javascript; charset=utf-8", JS),
        "icone.svg" => ("image/svg+xml", ICON),
        _ => return PageError::NotFound.into_response(),
    };
    (
        [
            (CONTENT_TYPE, kind),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
