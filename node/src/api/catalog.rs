//! Catalog handlers: products, categories, stock and reservations.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use confeitaria_types::schema::{DoceId, ReservaId};
use confeitaria_types::{
    AtualizaDoce, Categoria, Doce, ErrorBody, EstoqueDetalhe, NovaReserva, NovoDoce, PaginaDoces,
    Reserva, StockUpdate,
};
use raft_store::catalog::CatalogState;
use raft_store::{Command, CommandOutput};
use serde::Serialize;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::extract::{Admin, Body, PathParam, QueryParams, ReadLevel, ReadParams, Service};
use super::AppState;
use crate::error::ApiError;

/// Page size when none is given.
pub(crate) const DEFAULT_LIMIT: u64 = 20;
/// Largest page.
pub(crate) const MAX_LIMIT: u64 = 100;
/// The largest page offset `GET /api/produtos` takes (the document states it).
pub(crate) const MAX_OFFSET: u64 = 1_000_000;

/// `limit` of `GET /api/produtos` in the document: `1..=MAX_LIMIT`, [`DEFAULT_LIMIT`] when absent.
#[derive(Debug, Clone, Copy)]
pub struct PageLimit;

impl PartialSchema for PageLimit {
    fn schema() -> RefOr<Schema> {
        confeitaria_types::schema::integer(1, MAX_LIMIT)
            .default(Some(DEFAULT_LIMIT.into()))
            .into()
    }
}

impl ToSchema for PageLimit {}

/// `offset` of `GET /api/produtos` in the document: `0..=MAX_OFFSET`, 0 when absent.
#[derive(Debug, Clone, Copy)]
pub struct PageOffset;

impl PartialSchema for PageOffset {
    fn schema() -> RefOr<Schema> {
        confeitaria_types::schema::integer(0, MAX_OFFSET)
            .default(Some(0.into()))
            .into()
    }
}

impl ToSchema for PageOffset {}

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
#[utoipa::path(
    get,
    path = "/api/produtos",
    summary = "List products by id",
    params(
        ("limit" = Option<PageLimit>, Query, description = "page size"),
        ("offset" = Option<PageOffset>, Query, description = "page start"),
        ("consistency" = Option<ReadLevel>, Query, description = "linearizable (the default): confirmed with a quorum via the leader's read index; local: this node's replica (may be stale; X-Raft-Applied-Index names its index)"),
    ),
    responses(
        (status = 200, description = "A page of products", body = PaginaDoces),
        (status = 400, description = "invalid_query or invalid_field (limit or offset out of range)", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/produtos/{id}",
    summary = "One product",
    params(("id" = DoceId, Path, description = "the product's id"), ("consistency" = Option<ReadLevel>, Query, description = "linearizable (the default): confirmed with a quorum via the leader's read index; local: this node's replica (may be stale; X-Raft-Applied-Index names its index)")),
    responses(
        (status = 200, description = "The product", body = Doce),
        (status = 400, description = "invalid_id or invalid_query", body = ErrorBody),
        (status = 404, description = "not_found: no such product", body = ErrorBody),
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/produtos/{id}/estoque",
    summary = "Stock counters of a product",
    params(("id" = DoceId, Path, description = "the product's id"), ("consistency" = Option<ReadLevel>, Query, description = "linearizable (the default): confirmed with a quorum via the leader's read index; local: this node's replica (may be stale; X-Raft-Applied-Index names its index)")),
    responses(
        (status = 200, description = "Available, reserved, sold and received units", body = EstoqueDetalhe),
        (status = 400, description = "invalid_id or invalid_query", body = ErrorBody),
        (status = 404, description = "not_found: no such product", body = ErrorBody),
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/produtos/categoria/{categoria}",
    summary = "Products of a category",
    params(("categoria" = String, Path, description = "the category's slug"), ("consistency" = Option<ReadLevel>, Query, description = "linearizable (the default): confirmed with a quorum via the leader's read index; local: this node's replica (may be stale; X-Raft-Applied-Index names its index)")),
    responses(
        (status = 200, description = "The category's products, by id", body = Vec<Doce>),
        (status = 400, description = "invalid_query (an unknown or malformed query parameter)", body = ErrorBody),
        (status = 404, description = "not_found: no such category", body = ErrorBody),
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/categorias",
    summary = "Every category",
    params(("consistency" = Option<ReadLevel>, Query, description = "linearizable (the default): confirmed with a quorum via the leader's read index; local: this node's replica (may be stale; X-Raft-Applied-Index names its index)")),
    responses(
        (status = 200, description = "Every category, by slug", body = Vec<Categoria>),
        (status = 400, description = "invalid_query (an unknown or malformed query parameter)", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    )
)]
pub async fn list_categories(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<ReadParams>,
) -> Result<Response, ApiError> {
    read(&state, q.consistency, |c| Ok(c.categories())).await
}

/// `POST /api/produtos` (admin).
#[utoipa::path(
    post,
    path = "/api/produtos",
    summary = "Create a product (admin)",
    security(("admin" = [])),
    request_body = NovoDoce,
    responses(
        (status = 201, description = "Created", body = Doce),
        (status = 400, description = "invalid_field, malformed_json or unsupported_media_type", body = ErrorBody),
        (status = 401, description = "unauthorized: no valid bearer token", body = ErrorBody),
        (status = 403, description = "forbidden: the token is not an admin's", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 409, description = "unknown_category: the category named does not exist", body = ErrorBody),
    )
)]
pub async fn create_product(
    State(state): State<AppState>,
    _: Admin,
    Body(novo): Body<NovoDoce>,
) -> Result<Response, ApiError> {
    write(&state, Command::CreateDoce(novo), true).await
}

/// `PUT /api/produtos/{id}` (admin).
#[utoipa::path(
    put,
    path = "/api/produtos/{id}",
    summary = "Update a product's fields (admin)",
    security(("admin" = [])),
    params(("id" = DoceId, Path, description = "the product's id")),
    request_body = AtualizaDoce,
    responses(
        (status = 200, description = "The product after the update", body = Doce),
        (status = 400, description = "invalid_id, invalid_field, malformed_json or unsupported_media_type", body = ErrorBody),
        (status = 401, description = "unauthorized: no valid bearer token", body = ErrorBody),
        (status = 403, description = "forbidden: the token is not an admin's", body = ErrorBody),
        (status = 404, description = "not_found: no such product", body = ErrorBody),
        (status = 409, description = "unknown_category: the category named does not exist", body = ErrorBody),
    )
)]
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
#[utoipa::path(
    put,
    path = "/api/produtos/{id}/estoque",
    summary = "Set ({estoque}) or adjust ({delta}) available stock (admin); below zero is 409 negative_stock",
    description = "The body gives exactly one of estoque (set available stock) or delta (adjust it); both or neither is 400 invalid_field.",
    security(("admin" = [])),
    params(("id" = DoceId, Path, description = "the product's id")),
    request_body = StockUpdate,
    responses(
        (status = 200, description = "The product after the change", body = Doce),
        (status = 400, description = "invalid_id, invalid_field (not exactly one of estoque or delta, or out of range), malformed_json or unsupported_media_type", body = ErrorBody),
        (status = 401, description = "unauthorized: no valid bearer token", body = ErrorBody),
        (status = 403, description = "forbidden: the token is not an admin's", body = ErrorBody),
        (status = 404, description = "not_found: no such product", body = ErrorBody),
        (status = 409, description = "negative_stock: available stock would fall below zero", body = ErrorBody),
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/categorias",
    summary = "Create or rename a category (admin)",
    security(("admin" = [])),
    request_body = Categoria,
    responses(
        (status = 201, description = "Created (or renamed)", body = Categoria),
        (status = 400, description = "invalid_field, malformed_json or unsupported_media_type", body = ErrorBody),
        (status = 401, description = "unauthorized: no valid bearer token", body = ErrorBody),
        (status = 403, description = "forbidden: the token is not an admin's", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/reservas",
    summary = "Reserve every item or none; idempotent by id (service)",
    security(("servico" = []), ("admin" = [])),
    request_body = NovaReserva,
    responses(
        (status = 201, description = "Reserved (or the same reservation again)", body = Reserva),
        (status = 400, description = "invalid_field, invalid_quantity, malformed_json or unsupported_media_type", body = ErrorBody),
        (status = 401, description = "unauthorized: no valid bearer token", body = ErrorBody),
        (status = 404, description = "not_found: a product named does not exist", body = ErrorBody),
        (status = 409, description = "insufficient_stock or inactive_product (with doce_id), reservation_mismatch (the id names other items), reservation_released, or reservation_expired (issued before the retention low-water mark)", body = ErrorBody),
    )
)]
pub async fn reserve(
    State(state): State<AppState>,
    _: Service,
    Body(mut r): Body<NovaReserva>,
) -> Result<Response, ApiError> {
    r.emitida_em.get_or_insert_with(crate::retention::now_ms);
    write(&state, Command::Reserve(r), true).await
}

/// `GET /api/reservas/{id}` (service).
#[utoipa::path(
    get,
    path = "/api/reservas/{id}",
    summary = "One reservation (service)",
    security(("servico" = []), ("admin" = [])),
    params(("id" = ReservaId, Path, description = "the reservation's id"), ("consistency" = Option<ReadLevel>, Query, description = "linearizable (the default): confirmed with a quorum via the leader's read index; local: this node's replica (may be stale; X-Raft-Applied-Index names its index)")),
    responses(
        (status = 200, description = "The reservation", body = Reserva),
        (status = 400, description = "invalid_path or invalid_query", body = ErrorBody),
        (status = 401, description = "unauthorized: no valid bearer token", body = ErrorBody),
        (status = 404, description = "not_found: no such reservation", body = ErrorBody),
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/reservas/{id}/confirmar",
    summary = "Confirm a reservation: reserved units become sold; idempotent (service)",
    security(("servico" = []), ("admin" = [])),
    params(("id" = ReservaId, Path, description = "the reservation's id")),
    responses(
        (status = 200, description = "The confirmed reservation", body = Reserva),
        (status = 400, description = "invalid_field: not a reservation id", body = ErrorBody),
        (status = 401, description = "unauthorized: no valid bearer token", body = ErrorBody),
        (status = 404, description = "not_found: no such reservation", body = ErrorBody),
        (status = 409, description = "reservation_released: the reservation was released", body = ErrorBody),
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/reservas/{id}/encerrar",
    summary = "Close a confirmed reservation whose order is final (entregue): its units stay sold and it is settled, forgotten after the retention window; a released one is answered as it is; an open one is 409 reservation_open; idempotent (service)",
    security(("servico" = []), ("admin" = [])),
    params(("id" = ReservaId, Path, description = "the reservation's id")),
    responses(
        (status = 200, description = "The reservation", body = Reserva),
        (status = 400, description = "invalid_field: not a reservation id", body = ErrorBody),
        (status = 401, description = "unauthorized: no valid bearer token", body = ErrorBody),
        (status = 404, description = "not_found: no such reservation", body = ErrorBody),
        (status = 409, description = "reservation_open: the reservation is neither confirmed nor released", body = ErrorBody),
    )
)]
pub async fn close(
    State(state): State<AppState>,
    _: Service,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    write(&state, Command::Close { id }, false).await
}

/// `DELETE /api/reservas/{id}` (service): idempotent; an unknown id is remembered as
/// released.
#[utoipa::path(
    delete,
    path = "/api/reservas/{id}",
    summary = "Release a reservation; idempotent; an unknown id is remembered as released (service)",
    description = "A released reservation stays readable (GET answers it with estado liberada): the release is a tombstone that makes it idempotent and refuses a late POST /api/reservas with the same id, until the retention window forgets it.",
    security(("servico" = []), ("admin" = [])),
    params(("id" = ReservaId, Path, description = "the reservation's id")),
    responses(
        (status = 200, description = "The released reservation", body = Reserva),
        (status = 400, description = "invalid_field: not a reservation id", body = ErrorBody),
        (status = 401, description = "unauthorized: no valid bearer token", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 409, description = "reservation_closed: the reservation is confirmed and closed (its order is final); its units stay sold", body = ErrorBody),
    )
)]
pub async fn release(
    State(state): State<AppState>,
    _: Service,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    write(&state, Command::Release { id }, false).await
}
