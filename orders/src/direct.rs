//! Direct delivery, when orders has no Redis: each outbox event is posted to the cart's
//! `POST /interno/eventos-pedido` (the cart's `cart::internal`), one idempotent call per
//! event under a deadline, with a service JWT signed by the cluster's `jwt_secret`.
//!
//! 200 acknowledges the event; a 400 means the cart will never take it (logged, and the
//! event is dropped so it cannot block the ones behind it); anything else — no answer, 5xx,
//! 401/403 (a secret mismatch, fixed by configuration), 404 (a cart without the endpoint) —
//! is retried by the publisher ([`crate::outbox`]).

use std::time::Duration;

use confeitaria_client::config::Secret;
use confeitaria_client::transport::Transport;
use confeitaria_types::auth::{self, TokenRole};
use http::{Method, StatusCode};

use crate::store::OutboxEntry;

/// The cart's endpoint for order events.
pub const PATH: &str = "/interno/eventos-pedido";
/// Lifetime of the service token signed for each call.
const TOKEN_TTL_SECS: u64 = 300;

/// What the cart made of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Acknowledged (applied now, or earlier: the cart deduplicates).
    Accepted,
    /// Refused as malformed: retrying cannot help.
    Refused(String),
}

/// Posts events to one cart service.
#[derive(Debug, Clone)]
pub struct DirectDelivery {
    url: String,
    transport: Transport,
    secret: Secret,
    deadline: Duration,
}

impl DirectDelivery {
    /// Delivers to the cart at `base` (e.g. `http://127.0.0.1:5002`), each call bounded by
    /// `deadline`.
    pub fn new(base: &str, secret: Secret, deadline: Duration) -> Self {
        Self {
            url: format!("{}{PATH}", base.trim_end_matches('/')),
            transport: Transport::http(),
            secret,
            deadline,
        }
    }

    /// Delivers one event; `Err` when it should be retried.
    pub async fn deliver(&self, e: &OutboxEntry) -> Result<Delivery, String> {
        let token = auth::sign(
            self.secret.expose(),
            TokenRole::Service,
            "orders",
            auth::now_secs(),
            TOKEN_TTL_SECS,
        )
        .map_err(|e| format!("signing: {e}"))?;
        let body = serde_json::to_vec(e).map_err(|e| e.to_string())?;
        let authorization = format!("Bearer {token}");
        let headers = [
            ("authorization", authorization.as_str()),
            ("content-type", "application/json"),
        ];
        let r = self
            .transport
            .send(Method::POST, &self.url, &headers, Some(body), self.deadline)
            .await
            .map_err(|e| format!("POST {}: {e}", self.url))?;
        match r.status {
            s if s.is_success() => Ok(Delivery::Accepted),
            StatusCode::BAD_REQUEST => Ok(Delivery::Refused(
                String::from_utf8_lossy(&r.body).into_owned(),
            )),
            s => Err(format!("POST {}: status {s}", self.url)),
        }
    }
}
