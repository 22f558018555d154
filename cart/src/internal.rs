//! `POST /interno/eventos-pedido`: one order event delivered by orders directly, when orders
//! has no Redis broker. The body is the outbox entry (`{evento, session_id, status}`); the
//! caller holds a service JWT signed with the cluster's `jwt_secret`.
//!
//! The call is idempotent: the event is applied by [`crate::dedupe::apply_event`], so a
//! confirmation delivered twice (orders retries until it hears 200) empties its cart once.
//! 200 `{"resultado": ...}` acknowledges the event; 503 asks orders to retry.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use confeitaria_types::auth::{self, TokenRole};
use confeitaria_types::orders::EventoPedido;
use confeitaria_types::ErrorBody;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::dedupe;
use crate::error::CartError;
use crate::session::SessionId;
use crate::AppState;

/// The path orders posts to.
pub const PATH: &str = "/interno/eventos-pedido";

/// What the cart reads of an outbox entry (other fields are ignored).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// The event.
    pub evento: EventoPedido,
    /// The order's cart session.
    #[schema(value_type = confeitaria_types::schema::SessionId)]
    pub session_id: String,
}

/// The answer to a delivery: what was done with it.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: the handler writes it with `json!`
pub struct Acknowledged {
    /// `emptied`, `no_cart`, `duplicate` or `ignored`.
    pub resultado: String,
}

/// `POST /interno/eventos-pedido` (service token).
#[utoipa::path(
    post,
    path = "/interno/eventos-pedido",
    summary = "One order event delivered by orders directly (no Redis); idempotent by evento.id",
    security(("servico" = [])),
    request_body = Delivery,
    responses(
        (status = 200, description = "Acknowledged", body = Acknowledged),
        (status = 400, description = "invalid_json or invalid_session", body = ErrorBody),
        (status = 401, description = "unauthorized: no or bad token", body = ErrorBody),
        (status = 403, description = "forbidden: not a service token", body = ErrorBody),
    )
)]
pub async fn receive_event(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, CartError> {
    let h = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    auth::verify(st.jwt_secret.expose(), auth::bearer(h)?, TokenRole::Service)?;
    let bytes = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            CartError::PayloadTooLarge
        } else {
            CartError::InvalidJson(r.body_text())
        }
    })?;
    let e: Delivery =
        serde_json::from_slice(&bytes).map_err(|e| CartError::InvalidJson(e.to_string()))?;
    let session = SessionId::parse(&e.session_id).ok_or(CartError::InvalidSession)?;
    let r = dedupe::apply_event(
        st.store.as_ref(),
        st.seen.as_ref(),
        e.evento.dados.tipo(),
        &e.evento.id,
        &session,
    )
    .await?;
    st.metrics.record_event(r.as_str());
    Ok(Json(json!({ "resultado": r.as_str() })))
}
