//! The friendly page every failure ends in: a status, a sentence in Portuguese and the way
//! back to the shop. Details go to the log, never to the page.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::view::Layout;

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No such page, product or order.
    #[error("not found")]
    NotFound,
    /// A service the page needs did not answer; the sentence says what to do.
    #[error("unavailable: {0}")]
    Unavailable(&'static str),
    /// The form or the address was malformed.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The form's CSRF token did not match the session.
    #[error("csrf token refused")]
    Csrf,
    /// A bug (a template that failed to render): logged, shown as a plain apology.
    #[error("internal error")]
    Internal,
}

#[derive(Template)]
#[template(path = "erro.html")]
struct ErrorPage {
    l: Layout,
    codigo: u16,
    mensagem: &'static str,
}

impl PageError {
    fn status_and_message(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Página não encontrada",
                "Procuramos em todas as prateleiras e não achamos o que você pediu.",
            ),
            PageError::Unavailable(m) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Voltamos em instantes",
                m,
            ),
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Pedido inválido", m),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "Formulário expirado",
                "Por segurança, este formulário não vale mais. Volte, recarregue a página e tente de novo.",
            ),
            PageError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Algo deu errado",
                "Tivemos um problema ao montar esta página. Tente novamente em instantes.",
            ),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, titulo, mensagem) = self.status_and_message();
        if status.is_server_error() {
            tracing::warn!(error = %self, "storefront page failed");
        }
        let page = ErrorPage {
            l: Layout::new(titulo, ""),
            codigo: status.as_u16(),
            mensagem,
        };
        let html = page.render().unwrap_or_else(|_| FALLBACK.to_owned());
        let mut r = (status, Html(html)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert("retry-after", http::HeaderValue::from_static("2"));
        }
        r
    }
}

const FALLBACK: &str = "<!doctype html><meta charset=utf-8><title>Confeitaria</title>\
<p>Algo deu errado. <a href=\"/\">Voltar à vitrine</a></p>";

/// Renders a page template, or the apology page if it cannot.
pub fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            PageError::Internal.into_response()
        }
    }
}

/// Renders a page template with `status`.
pub fn render_with<T: Template>(status: StatusCode, page: &T) -> Response {
    let mut r = render(page);
    if r.status() == StatusCode::OK {
        *r.status_mut() = status;
    }
    r
}

/// The fallback of the router: the friendly 404 page.
pub async fn not_found() -> PageError {
    PageError::NotFound
}
