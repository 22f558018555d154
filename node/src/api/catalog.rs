//! Catalog handlers: products, categories, stock and reservations.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use confeitaria_types::{AtualizaDoce, Categoria, NovaReserva, NovoDoce, StockUpdate};
use raft_store::catalog::CatalogState;
use raft_store::{Command, CommandOutput};
use serde::Serialize;

use super::extract::{Admin, Body, PathParam, QueryParams, ReadLevel, ReadParams, Service};
use super::AppState;
use crate::error::ApiError;

/// Page size when none is given.
const DEFAULT_LIMIT: u64 = 20;
/// Largest page.
pub(crate) const MAX_LIMIT: u64 = 100;
/// The largest page offset `GET /api/produtos` takes (the document states it).
pub(crate) const MAX_OFFSET: u64 = 1_000_000;

/// Reads the applied state at the asked level, answering with `X-Raft-Applied-Index`.
async fn read<T: Serialize>(
    state: &AppState,
    level: ReadLevel,
    f: impl FnOnce(&CatalogState) -> Result<T, ApiError>,
) -> Result<Response, ApiError> {
    if level == ReadLevel::Linearizable {
        state.node.linearizable_barrier().await?;
    }
    let (value, applied) = state.node.read_applied(f);
    let value = value?;
    let mut headers = HeaderMap::new();
    headers.insert("x-raft-applied-index", HeaderValue::from(applied));
    Ok((headers, Json(value)).into_response())
}

fn parse_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse().map_err(|_| ApiError::BadRequest {
        code: "invalid_id".into(),
        message: format!("'{raw}' is not a product id"),
    })
}

/// Proposes a command and answers with what it produced.
async fn write(state: &AppState, cmd: Command, created: bool) -> Result<Response, ApiError> {
    let (out, _) = state.node.write(cmd).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(match out {
        CommandOutput::Doce(d) => (status, Json(d)).into_response(),
        CommandOutput::Categoria(c) => (status, Json(c)).into_response(),
        CommandOutput::Reserva(r) => (status, Json(r)).into_response(),
        CommandOutput::Seeded(_) | CommandOutput::Empty | CommandOutput::Batch(_) => {
            StatusCode::NO_CONTENT.into_response()
        }
    })
}

/// `GET /api/produtos`.
pub async fn list_products(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<ReadParams>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::invalid(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    let offset = q.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ApiError::invalid(format!(
            "offset must be 0 to {MAX_OFFSET}"
        )));
    }
    read(&state, q.consistency, |c| Ok(c.page(limit, offset))).await
}

/// `GET /api/produtos/{id}`.
pub async fn get_product(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
    QueryParams(q): QueryParams<ReadParams>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    read(&state, q.consistency, |c| {
        c.doce(id)
            .ok_or_else(|| ApiError::NotFound(format!("product {id}")))
    })
    .await
}

/// `GET /api/produtos/{id}/estoque`: available, reserved, sold and received.
pub async fn get_stock(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
    QueryParams(q): QueryParams<ReadParams>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    read(&state, q.consistency, |c| {
        c.stock(id)
            .ok_or_else(|| ApiError::NotFound(format!("product {id}")))
    })
    .await
}

/// `GET /api/produtos/categoria/{categoria}`.
pub async fn products_in_category(
    State(state): State<AppState>,
    PathParam(slug): PathParam<String>,
    QueryParams(q): QueryParams<ReadParams>,
) -> Result<Response, ApiError> {
    read(&state, q.consistency, |c| {
        c.in_category(&slug)
            .ok_or_else(|| ApiError::NotFound(format!("category {slug}")))
    })
    .await
}

/// `GET /api/categorias`.
pub async fn list_categories(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<ReadParams>,
) -> Result<Response, ApiError> {
    read(&state, q.consistency, |c| Ok(c.categories())).await
}

/// `POST /api/produtos` (admin).
pub async fn create_product(
    State(state): State<AppState>,
    _: Admin,
    Body(novo): Body<NovoDoce>,
) -> Result<Response, ApiError> {
    write(&state, Command::CreateDoce(novo), true).await
}

/// `PUT /api/produtos/{id}` (admin).
pub async fn update_product(
    State(state): State<AppState>,
    _: Admin,
    PathParam(id): PathParam<String>,
    Body(update): Body<AtualizaDoce>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    write(&state, Command::UpdateDoce { id, update }, false).await
}

/// `PUT /api/produtos/{id}/estoque` (admin): `{"estoque": n}` or `{"delta": d}`.
pub async fn change_stock(
    State(state): State<AppState>,
    _: Admin,
    PathParam(id): PathParam<String>,
    Body(body): Body<StockUpdate>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let cmd = match (body.estoque, body.delta) {
        (Some(estoque), None) => Command::SetStock { id, estoque },
        (None, Some(delta)) => Command::AdjustStock { id, delta },
        _ => {
            return Err(ApiError::invalid(
                "give exactly one of 'estoque' or 'delta'",
            ))
        }
    };
    write(&state, cmd, false).await
}

/// `POST /api/categorias` (admin).
pub async fn create_category(
    State(state): State<AppState>,
    _: Admin,
    Body(c): Body<Categoria>,
) -> Result<Response, ApiError> {
    write(&state, Command::UpsertCategoria(c), true).await
}

/// `POST /api/reservas` (service): all or nothing, idempotent by id. A request without
/// `emitida_em` is stamped with this node's clock before it enters the log, so that a
/// re-forward of it is judged by when it first arrived.
pub async fn reserve(
    State(state): State<AppState>,
    _: Service,
    Body(mut r): Body<NovaReserva>,
) -> Result<Response, ApiError> {
    r.emitida_em.get_or_insert_with(crate::retention::now_ms);
    write(&state, Command::Reserve(r), true).await
}

/// `GET /api/reservas/{id}` (service).
pub async fn get_reservation(
    State(state): State<AppState>,
    _: Service,
    PathParam(id): PathParam<String>,
    QueryParams(q): QueryParams<ReadParams>,
) -> Result<Response, ApiError> {
    read(&state, q.consistency, |c| {
        c.reserva(&id)
            .ok_or_else(|| ApiError::NotFound(format!("reservation {id}")))
    })
    .await
}

/// `POST /api/reservas/{id}/confirmar` (service): idempotent.
pub async fn confirm(
    State(state): State<AppState>,
    _: Service,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    write(&state, Command::Confirm { id }, false).await
}

/// `POST /api/reservas/{id}/encerrar` (service): the reservation's order is final; a
/// confirmed reservation is closed for good (settled, forgotten after the retention window).
/// Idempotent.
pub async fn close(
    State(state): State<AppState>,
    _: Service,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    write(&state, Command::Close { id }, false).await
}

/// `DELETE /api/reservas/{id}` (service): idempotent; an unknown id is remembered as
/// released.
pub async fn release(
    State(state): State<AppState>,
    _: Service,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    write(&state, Command::Release { id }, false).await
}
