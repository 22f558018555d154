//! The four cart endpoints of docs/design.md.
//!
//! Every handler validates its input before touching the store, asks the store for one atomic
//! step, and prices the resulting lines from the catalog.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use confeitaria_types::cart::{
    AdicionarItem, Carrinho, ItemCarrinho, QUANTIDADE_MAXIMA, QUANTIDADE_MINIMA,
};
use confeitaria_types::schema::SessionId as SessionIdSchema;
use confeitaria_types::{Doce, ErrorBody};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::catalog::doce_with_deadline;
use crate::error::CartError;
use crate::session::{self, SessionId};
use crate::store::{AddRefusal, Addition, CartSnapshot, Removal};
use crate::AppState;

/// How many catalog look-ups one cart read runs at once.
const PRICING_CONCURRENCY: usize = 8;

/// `POST /api/carrinho/adicionar` `{doce_id, quantidade}`.
///
/// Without `X-Session-Id` a new session (and cart) is created; its id comes back in the
/// `X-Session-Id` header and in the body.
#[utoipa::path(
    post,
    path = "/api/carrinho/adicionar",
    summary = "Add units of a product to the session's cart (creating the session if no header is sent)",
    params(("X-Session-Id" = Option<SessionIdSchema>, Header, description = "the cart's session; none starts a new one")),
    request_body = AdicionarItem,
    responses(
        (status = 200, description = "The cart after the add", body = Carrinho,
            headers(("X-Session-Id" = SessionIdSchema, description = "the cart's session"))),
        (status = 400, description = "invalid_json, invalid_session or invalid_quantity", body = ErrorBody),
        (status = 404, description = "product_not_found", body = ErrorBody),
        (status = 409, description = "product_inactive, insufficient_stock (with doce_id), line_limit or cart_full", body = ErrorBody),
    )
)]
pub async fn add_item(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, CartError> {
    let session = match headers.get(session::HEADER) {
        Some(raw) => parse_session(raw.to_str().unwrap_or(""))?,
        None => SessionId::new_random(),
    };
    let item: AdicionarItem = parse_json(body)?;
    if !(QUANTIDADE_MINIMA..=QUANTIDADE_MAXIMA).contains(&item.quantidade) {
        return Err(CartError::InvalidQuantity);
    }
    let doce = doce_with_deadline(
        st.catalog.as_ref(),
        item.doce_id,
        st.limits.catalog_deadline,
    )
    .await?
    .ok_or(CartError::ProductNotFound(item.doce_id))?;
    if !doce.ativo {
        return Err(CartError::ProductInactive(item.doce_id));
    }
    let addition = Addition {
        doce_id: item.doce_id,
        quantidade: item.quantidade,
        estoque: doce.estoque,
    };
    let snapshot = match st.store.add(&session, addition).await? {
        Ok(snapshot) => snapshot,
        Err(why) => {
            let err = refusal(why, &doce);
            st.metrics.record_refusal(err.status_and_code().1);
            return Err(err);
        }
    };
    st.metrics.record_added(item.quantidade);
    let carrinho = price(&st, &session, snapshot, &[doce]).await?;
    Ok(with_session_header(&session, Json(carrinho)))
}

/// `DELETE /api/carrinho/remover/{doce_id}` with `X-Session-Id`: removes the whole line.
#[utoipa::path(
    delete,
    path = "/api/carrinho/remover/{doce_id}",
    summary = "Remove a product's line from the session's cart",
    params(
        ("X-Session-Id" = SessionIdSchema, Header, description = "the cart's session"),
        ("doce_id" = u64, Path, description = "the product whose line goes"),
    ),
    responses(
        (status = 200, description = "The cart after the removal", body = Carrinho,
            headers(("X-Session-Id" = SessionIdSchema, description = "the cart's session"))),
        (status = 400, description = "missing_session, invalid_session or invalid_id", body = ErrorBody),
        (status = 404, description = "cart_not_found or item_not_found", body = ErrorBody),
    )
)]
pub async fn remove_item(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(doce_id): Path<String>,
) -> Result<Response, CartError> {
    let raw = headers
        .get(session::HEADER)
        .ok_or(CartError::MissingSession)?;
    let session = parse_session(raw.to_str().unwrap_or(""))?;
    let doce_id: u64 = doce_id.parse().map_err(|_| CartError::InvalidProductId)?;
    match st.store.remove(&session, doce_id).await? {
        Removal::Removed(snapshot) => {
            let carrinho = price(&st, &session, snapshot, &[]).await?;
            Ok(with_session_header(&session, Json(carrinho)))
        }
        Removal::NoCart => Err(CartError::CartNotFound),
        Removal::NoItem => Err(CartError::ItemNotFound(doce_id)),
    }
}

/// `GET /api/carrinho/{session_id}`: the cart, priced from the catalog.
#[utoipa::path(
    get,
    path = "/api/carrinho/{session_id}",
    summary = "Read a cart",
    params(("session_id" = SessionIdSchema, Path, description = "the cart's session")),
    responses(
        (status = 200, description = "The cart", body = Carrinho),
        (status = 400, description = "invalid_session", body = ErrorBody),
        (status = 404, description = "cart_not_found", body = ErrorBody),
    )
)]
pub async fn get_cart(
    State(st): State<AppState>,
    Path(session_id): Path<String>,
) -> Result<Json<Carrinho>, CartError> {
    let session = parse_session(&session_id)?;
    let snapshot = st
        .store
        .get(&session)
        .await?
        .ok_or(CartError::CartNotFound)?;
    Ok(Json(price(&st, &session, snapshot, &[]).await?))
}

/// `DELETE /api/carrinho/{session_id}`: drops the cart (204), or 404 if there is none.
#[utoipa::path(
    delete,
    path = "/api/carrinho/{session_id}",
    summary = "Delete a cart",
    params(("session_id" = SessionIdSchema, Path, description = "the cart's session")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "invalid_session", body = ErrorBody),
        (status = 404, description = "cart_not_found", body = ErrorBody),
    )
)]
pub async fn delete_cart(
    State(st): State<AppState>,
    Path(session_id): Path<String>,
) -> Result<StatusCode, CartError> {
    let session = parse_session(&session_id)?;
    if st.store.delete(&session).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(CartError::CartNotFound)
    }
}

fn parse_session(raw: &str) -> Result<SessionId, CartError> {
    SessionId::parse(raw).ok_or(CartError::InvalidSession)
}

/// Reads the whole body (bounded by the router's body limit) and decodes it.
fn parse_json<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, CartError> {
    let bytes = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            CartError::PayloadTooLarge
        } else {
            CartError::InvalidJson(r.body_text())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| CartError::InvalidJson(e.to_string()))
}

fn refusal(refusal: AddRefusal, doce: &Doce) -> CartError {
    match refusal {
        AddRefusal::CartFull => CartError::CartFull,
        AddRefusal::LineLimit { no_carrinho } => CartError::LineLimit {
            doce_id: doce.id,
            no_carrinho,
        },
        AddRefusal::InsufficientStock { no_carrinho } => CartError::InsufficientStock {
            doce_id: doce.id,
            disponivel: doce.estoque,
            no_carrinho,
        },
    }
}

fn with_session_header(session: &SessionId, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    if let Ok(v) = HeaderValue::from_str(session.as_str()) {
        response.headers_mut().insert(session::HEADER, v);
    }
    response
}

/// Names and prices each line from the catalog (`known` products are not fetched again).
/// A line whose product the catalog no longer has is left out of the answer (and logged).
async fn price(
    st: &AppState,
    session: &SessionId,
    snapshot: CartSnapshot,
    known: &[Doce],
) -> Result<Carrinho, CartError> {
    let deadline = st.limits.catalog_deadline;
    let priced: Vec<Option<ItemCarrinho>> = stream::iter(snapshot.lines)
        .map(|line| async move {
            let doce = match known.iter().find(|d| d.id == line.doce_id) {
                Some(d) => Some(d.clone()),
                None => doce_with_deadline(st.catalog.as_ref(), line.doce_id, deadline).await?,
            };
            let Some(doce) = doce else {
                tracing::warn!(
                    doce_id = line.doce_id,
                    "cart line names a product the catalog lacks"
                );
                return Ok(None);
            };
            Ok::<_, CartError>(Some(ItemCarrinho {
                doce_id: line.doce_id,
                nome: doce.nome,
                preco_centavos: doce.preco_centavos,
                quantidade: line.quantidade,
                subtotal_centavos: doce.preco_centavos.saturating_mul(line.quantidade),
            }))
        })
        .buffered(PRICING_CONCURRENCY)
        .try_collect()
        .await?;
    let itens: Vec<ItemCarrinho> = priced.into_iter().flatten().collect();
    let total_centavos = itens
        .iter()
        .fold(0u64, |acc, i| acc.saturating_add(i.subtotal_centavos));
    Ok(Carrinho {
        session_id: session.to_string(),
        itens,
        total_centavos,
        expira_em: confeitaria_types::time::rfc3339(
            std::time::SystemTime::now() + snapshot.ttl_left,
        ),
    })
}
