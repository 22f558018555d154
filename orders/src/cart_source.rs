//! Where checkout reads the shopper's cart: [`CartSource`], answered in production by the
//! cart service over HTTP ([`HttpCart`]) under a deadline.

use std::time::Duration;

use confeitaria_client::transport::Transport;
use confeitaria_types::cart::Carrinho;
use futures::future::BoxFuture;
use http::{Method, StatusCode};

/// Why the cart could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CartError {
    /// The cart service did not answer in time, or answered 5xx.
    #[error("cart unavailable: {0}")]
    Unavailable(String),
    /// The cart service answered something unexpected.
    #[error("unexpected cart answer: {0}")]
    Unexpected(String),
}

/// Cart reads for checkout.
pub trait CartSource: Send + Sync + 'static {
    /// The cart of `session_id` (32 hex characters), `None` if there is none.
    fn carrinho<'a>(
        &'a self,
        session_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Carrinho>, CartError>>;
}

/// The cart service's `GET /api/carrinho/{session_id}`.
#[derive(Debug, Clone)]
pub struct HttpCart {
    base: String,
    transport: Transport,
    deadline: Duration,
}

impl HttpCart {
    /// Reads carts from the service at `base` (e.g. `http://127.0.0.1:5002`), each read
    /// bounded by `deadline`.
    pub fn new(base: &str, deadline: Duration) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            transport: Transport::http(),
            deadline,
        }
    }
}

impl CartSource for HttpCart {
    fn carrinho<'a>(
        &'a self,
        session_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Carrinho>, CartError>> {
        Box::pin(async move {
            let url = format!("{}/api/carrinho/{session_id}", self.base);
            let resp = self
                .transport
                .send(Method::GET, &url, &[], None, self.deadline)
                .await
                .map_err(|e| CartError::Unavailable(e.to_string()))?;
            match resp.status {
                StatusCode::OK => serde_json::from_slice(&resp.body)
                    .map(Some)
                    .map_err(|e| CartError::Unexpected(e.to_string())),
                StatusCode::NOT_FOUND => Ok(None),
                s if s.is_server_error() => Err(CartError::Unavailable(format!("status {s}"))),
                s => Err(CartError::Unexpected(format!("status {s}"))),
            }
        })
    }
}
