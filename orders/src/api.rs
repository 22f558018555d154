//! The order endpoints of docs/design.md.
//!
//! - `POST /api/pedidos` `{session_id}` with `Idempotency-Key`: checkout (201 new, 200 replay);
//! - `GET /api/pedidos/{id}`, `GET /api/pedidos/{id}/eventos`: owner's `X-Session-Id` or admin;
//! - `PUT /api/pedidos/{id}/status` `{status}`: admin.
//!
//! Saga work runs in its own task (tracked for shutdown), so a client that hangs up does not
//! cut a step in half.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use confeitaria_types::auth::{self, AuthError, TokenRole};
use confeitaria_types::orders::{AtualizaStatus, EventosPedido, NovoPedido, Pedido};
use subtle::ConstantTimeEq;

use crate::error::OrdersError;
use crate::AppState;

/// Header carrying the checkout's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Header carrying the shopper's session id.
pub const SESSION_HEADER: &str = "x-session-id";
/// Header set on a replayed checkout.
pub const REPLAYED: &str = "idempotent-replayed";
/// Longest accepted idempotency key.
pub const MAX_KEY_LEN: usize = 200;

fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, OrdersError> {
    let raw = headers
        .get(IDEMPOTENCY_KEY)
        .ok_or(OrdersError::Invalid {
            code: "missing_idempotency_key",
            message: "POST /api/pedidos needs an Idempotency-Key header".into(),
        })?
        .to_str()
        .unwrap_or("");
    if raw.is_empty() || raw.len() > MAX_KEY_LEN || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(OrdersError::Invalid {
            code: "invalid_idempotency_key",
            message: format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        });
    }
    Ok(raw.to_owned())
}

fn parse_json<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, OrdersError> {
    let bytes = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OrdersError::PayloadTooLarge
        } else {
            OrdersError::InvalidJson(r.body_text())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| OrdersError::InvalidJson(e.to_string()))
}

/// Runs saga work in a tracked task of its own and waits for it.
async fn on_task<T: Send + 'static>(
    st: &AppState,
    fut: impl std::future::Future<Output = Result<T, OrdersError>> + Send + 'static,
) -> Result<T, OrdersError> {
    if st.cancel.is_cancelled() {
        return Err(OrdersError::ShuttingDown);
    }
    st.tracker
        .spawn(fut)
        .await
        .map_err(|e| OrdersError::Internal(format!("saga task: {e}")))?
}

/// `POST /api/pedidos` `{session_id}` with `Idempotency-Key`.
pub async fn create_order(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OrdersError> {
    let key = idempotency_key(&headers)?;
    let novo: NovoPedido = parse_json(body)?;
    if !is_hex32(&novo.session_id) {
        return Err(OrdersError::Invalid {
            code: "invalid_session",
            message: "session_id must be 32 hex characters".into(),
        });
    }
    let session_id = novo.session_id.to_ascii_lowercase();
    let body = serde_json::to_string(&NovoPedido {
        session_id: session_id.clone(),
    })
    .map_err(|e| OrdersError::Internal(e.to_string()))?;

    if let Some(record) = st.saga.store.record(&key)? {
        if record.body != body {
            return Err(OrdersError::IdempotencyKeyReused);
        }
        let saga = st.saga.clone();
        let pedido = on_task(&st, async move { saga.resume(&record.pedido_id).await }).await?;
        return Ok(order_response(StatusCode::OK, pedido, true));
    }

    let mut carrinho = st
        .carts
        .carrinho(&session_id)
        .await
        .map_err(|e| OrdersError::CartUnavailable(e.to_string()))?
        .ok_or(OrdersError::CartNotFound)?;
    if carrinho.itens.is_empty() {
        return Err(OrdersError::EmptyCart);
    }
    carrinho.session_id = session_id;
    let saga = st.saga.clone();
    let (pedido, criado) = on_task(
        &st,
        async move { saga.checkout(&key, &body, carrinho).await },
    )
    .await?;
    let status = if criado {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(order_response(status, pedido, !criado))
}

fn order_response(status: StatusCode, pedido: Pedido, replay: bool) -> Response {
    let mut r = (status, Json(pedido)).into_response();
    if replay {
        r.headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    r
}

/// Who is asking to read an order.
pub(crate) enum Reader {
    Admin,
    Sessao(String),
}

pub(crate) fn reader(st: &AppState, headers: &HeaderMap) -> Result<Reader, OrdersError> {
    if let Some(h) = headers.get(header::AUTHORIZATION) {
        let token = auth::bearer(h.to_str().ok())?;
        auth::verify(st.jwt_secret.expose(), token, TokenRole::Admin)?;
        return Ok(Reader::Admin);
    }
    match headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) {
        Some(s) => Ok(Reader::Sessao(s.to_ascii_lowercase())),
        None => Err(OrdersError::Auth(AuthError::Missing)),
    }
}

/// The order, if it exists and `reader` may see it (a wrong session reads as unknown).
pub(crate) fn visible_order(
    st: &AppState,
    id: &str,
    reader: &Reader,
) -> Result<Pedido, OrdersError> {
    if !is_hex32(id) {
        return Err(OrdersError::NotFound);
    }
    let pedido = st.saga.pedido(id)?.ok_or(OrdersError::NotFound)?;
    match reader {
        Reader::Admin => Ok(pedido),
        Reader::Sessao(s) if bool::from(s.as_bytes().ct_eq(pedido.session_id.as_bytes())) => {
            Ok(pedido)
        }
        Reader::Sessao(_) => Err(OrdersError::NotFound),
    }
}

/// `GET /api/pedidos/{id}`.
pub async fn get_order(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Pedido>, OrdersError> {
    let reader = reader(&st, &headers)?;
    Ok(Json(visible_order(&st, &id, &reader)?))
}

/// `GET /api/pedidos/{id}/eventos`: the order's log, oldest first.
pub async fn list_events(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<EventosPedido>, OrdersError> {
    let reader = reader(&st, &headers)?;
    visible_order(&st, &id, &reader)?;
    let eventos = st.saga.store.events(&id)?;
    Ok(Json(EventosPedido {
        pedido_id: id,
        eventos,
    }))
}

/// `PUT /api/pedidos/{id}/status` `{status}` (admin).
pub async fn change_status(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Pedido>, OrdersError> {
    let token = auth::bearer(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok()),
    )?;
    auth::verify(st.jwt_secret.expose(), token, TokenRole::Admin)?;
    let body: AtualizaStatus = parse_json(body)?;
    if !is_hex32(&id) {
        return Err(OrdersError::NotFound);
    }
    let saga = st.saga.clone();
    let pedido = on_task(&st, async move {
        saga.change_status(&id.to_ascii_lowercase(), body.status)
            .await
    })
    .await?;
    Ok(Json(pedido))
}
