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
use confeitaria_types::orders::{
    is_idempotency_key, AtualizaStatus, EventosPedido, NovoPedido, Pedido, IDEMPOTENCY_KEY_MAX,
};
use confeitaria_types::schema::{IdempotencyKey, PedidoId};
use confeitaria_types::ErrorBody;
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
pub const MAX_KEY_LEN: usize = IDEMPOTENCY_KEY_MAX;

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
    if !is_idempotency_key(raw) {
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
#[utoipa::path(
    post,
    path = "/api/pedidos",
    summary = "Check out a cart",
    params(("Idempotency-Key" = IdempotencyKey, Header, description = "the same key and body make one order")),
    request_body = NovoPedido,
    responses(
        (status = 201, description = "Order created: confirmado, or rejeitado with rejeicao", body = Pedido),
        (status = 200, description = "Replay of the same key and body", body = Pedido,
            headers(("Idempotent-Replayed" = String, description = "true"))),
        (status = 400, description = "invalid_json, invalid_session, missing_idempotency_key or invalid_idempotency_key", body = ErrorBody),
        (status = 404, description = "cart_not_found", body = ErrorBody),
        (status = 409, description = "empty_cart, operation_in_progress, or the catalog's code for a step it refused", body = ErrorBody),
        (status = 422, description = "idempotency_key_reused: same key, different body", body = ErrorBody),
    )
)]
pub async fn create_order(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OrdersError> {
    let key = idempotency_key(&headers)?;
    let novo: NovoPedido = parse_json(body)?;
    if !confeitaria_types::cart::is_session_id(&novo.session_id) {
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
#[utoipa::path(
    get,
    path = "/api/pedidos/{id}",
    summary = "One order (the owner's X-Session-Id, or admin)",
    params(
        ("id" = PedidoId, Path, description = "the order"),
        ("X-Session-Id" = Option<String>, Header, description = "the owner's session id (else an admin bearer token)"),
    ),
    security(("admin" = []), ()),
    responses(
        (status = 200, description = "The order", body = Pedido),
        (status = 401, description = "unauthorized: no credentials, or a bad token", body = ErrorBody),
        (status = 403, description = "forbidden: a token that is not admin", body = ErrorBody),
        (status = 404, description = "not_found: unknown order, or not this session's", body = ErrorBody),
    )
)]
pub async fn get_order(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Pedido>, OrdersError> {
    let reader = reader(&st, &headers)?;
    Ok(Json(visible_order(&st, &id, &reader)?))
}

/// `GET /api/pedidos/{id}/eventos`: the order's log, oldest first.
#[utoipa::path(
    get,
    path = "/api/pedidos/{id}/eventos",
    summary = "The order's event log, oldest first (the owner's X-Session-Id, or admin)",
    params(
        ("id" = PedidoId, Path, description = "the order"),
        ("X-Session-Id" = Option<String>, Header, description = "the owner's session id (else an admin bearer token)"),
    ),
    security(("admin" = []), ()),
    responses(
        (status = 200, description = "Events, oldest first", body = EventosPedido),
        (status = 401, description = "unauthorized: no credentials, or a bad token", body = ErrorBody),
        (status = 403, description = "forbidden: a token that is not admin", body = ErrorBody),
        (status = 404, description = "not_found: unknown order, or not this session's", body = ErrorBody),
    )
)]
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
#[utoipa::path(
    put,
    path = "/api/pedidos/{id}/status",
    summary = "Change an order's status (admin)",
    params(("id" = PedidoId, Path, description = "the order")),
    security(("admin" = [])),
    request_body = AtualizaStatus,
    responses(
        (status = 200, description = "The order after the change (unchanged if it already had that status)", body = Pedido),
        (status = 400, description = "invalid_json: no body, or no known status", body = ErrorBody),
        (status = 401, description = "unauthorized: no or bad token", body = ErrorBody),
        (status = 403, description = "forbidden: not admin", body = ErrorBody),
        (status = 404, description = "not_found: unknown order", body = ErrorBody),
        (status = 409, description = "illegal_transition, operation_in_progress, or the catalog's code for a step it refused", body = ErrorBody),
    )
)]
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
