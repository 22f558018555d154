//! An order's page, its live event stream and "meus pedidos".
//!
//! The page is complete as rendered (status, items, timeline), so a reload always shows the
//! truth. A few lines of JavaScript (`static/loja.js`) then follow `GET
//! /pedidos/{id}/eventos`, a Server-Sent Events stream (`id: <seq>`, `event: pedido`,
//! `data: <order event JSON>`) this module serves for the session that owns the order (a
//! browser's `EventSource` cannot send `X-Session-Id`, so the stream is the storefront's,
//! read with the session cookie). It relays the orders service's own stream
//! (`/api/pedidos/{id}/eventos/stream`, pushed as each event is recorded) and, when the API
//! offers none, reads the order's event log once a second instead.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use confeitaria_types::orders::{EventoPedido, Pedido, StatusPedido};
use futures::stream::{self, Stream, StreamExt};

use crate::api::{ApiError, Reader};
use crate::error::{render, PageError};
use crate::pages::{param, Params};
use crate::view::{data, marco, reais, status_nome, Layout, Marco};
use crate::visit::{is_hex32, Visit};
use crate::AppState;

/// How often the fallback stream reads the order's log.
const POLL: Duration = Duration::from_secs(1);
/// How long one stream lives; the browser reconnects with `Last-Event-ID` after it.
const STREAM_LIFE: Duration = Duration::from_secs(300);

/// An order line as the page shows it.
pub struct ItemView {
    /// Name.
    pub nome: String,
    /// Units.
    pub quantidade: u64,
    /// Line total.
    pub subtotal: String,
}

/// An order as its page and "meus pedidos" show it.
pub struct PedidoView {
    /// Id.
    pub id: String,
    /// First 8 characters of the id.
    pub curto: String,
    /// Wire status (`confirmado`).
    pub status: &'static str,
    /// The shopper's name of the status.
    pub status_nome: &'static str,
    /// Lines.
    pub itens: Vec<ItemView>,
    /// Total.
    pub total: String,
    /// When it was placed.
    pub criado: String,
    /// Why it was refused, when it was.
    pub recusa: Option<&'static str>,
}

impl PedidoView {
    /// From the wire.
    pub fn new(p: &Pedido) -> Self {
        Self {
            curto: p.id.chars().take(8).collect(),
            id: p.id.clone(),
            status: p.status.as_str(),
            status_nome: status_nome(p.status),
            itens: p
                .itens
                .iter()
                .map(|i| ItemView {
                    nome: i.nome.clone(),
                    quantidade: i.quantidade,
                    subtotal: reais(i.subtotal_centavos),
                })
                .collect(),
            total: reais(p.total_centavos),
            criado: data(&p.criado_em),
            recusa: p.rejeicao.as_ref().map(|r| crate::view::motivo(&r.code)),
        }
    }
}

/// `pedido.html`.
#[derive(Template)]
#[template(path = "pedido.html")]
pub struct PedidoPage {
    l: Layout,
    p: PedidoView,
    marcos: Vec<Marco>,
    seq: u64,
}

/// `GET /pedidos/{id}`: the order of this session.
pub async fn pedido(
    State(st): State<AppState>,
    Extension(v): Extension<Visit>,
    Path(id): Path<String>,
    q: Params,
) -> Result<Response, PageError> {
    if !is_hex32(&id) {
        return Err(PageError::NotFound);
    }
    let id = id.to_ascii_lowercase();
    let reader = Reader::Session(&v.session);
    let (p, evs) = tokio::join!(st.api.pedido(&id, reader), st.api.eventos(&id, reader));
    let p = p.map_err(order_error)?;
    let evs = evs.unwrap_or_default();
    let l = Layout::new(format!("Pedido {}", &id[..8]), &v.csrf).flash(param(&q, "aviso"));
    Ok(render(&PedidoPage {
        l,
        p: PedidoView::new(&p),
        seq: evs.last().map_or(0, |e| e.seq),
        marcos: evs.iter().map(marco).collect(),
    }))
}

fn order_error(e: ApiError) -> PageError {
    if e.is_not_found() || matches!(e, ApiError::Refused { .. }) {
        PageError::NotFound
    } else {
        tracing::warn!(error = %e, "orders unavailable");
        PageError::Unavailable(
            "Não conseguimos abrir seu pedido agora. Tente novamente em instantes.",
        )
    }
}

/// `GET /pedidos/{id}/eventos`: the order's events after `?desde=SEQ` (or `Last-Event-ID`), as
/// Server-Sent Events, for the session that owns the order.
pub async fn eventos(
    State(st): State<AppState>,
    Extension(v): Extension<Visit>,
    Path(id): Path<String>,
    headers: HeaderMap,
    q: Params,
) -> Result<Response, PageError> {
    if !is_hex32(&id) {
        return Err(PageError::NotFound);
    }
    let id = id.to_ascii_lowercase();
    let desde = headers
        .get("last-event-id")
        .and_then(|h| h.to_str().ok())
        .or_else(|| param(&q, "desde"))
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    // The owner check: a session that cannot read the order gets a 404, not a stream.
    st.api
        .pedido(&id, Reader::Session(&v.session))
        .await
        .map_err(order_error)?;
    let last = desde.to_string();
    let upstream = st
        .api
        .sse(
            &format!("/api/pedidos/{id}/eventos/stream"),
            &[("x-session-id", &v.session), ("last-event-id", &last)],
        )
        .await;
    match upstream {
        Ok(body) => {
            // Passed on as it comes, for at most STREAM_LIFE (the browser then reconnects).
            let data = http_body_util::BodyExt::into_data_stream(body)
                .take_until(tokio::time::sleep(STREAM_LIFE));
            let mut r = Response::new(axum::body::Body::from_stream(data));
            let h = r.headers_mut();
            h.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/event-stream"),
            );
            h.insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-cache"),
            );
            return Ok(r);
        }
        Err(e) => tracing::debug!(error = %e, "no upstream order stream; polling the log"),
    }
    let stream = poll_stream(st, id, v.session, desde);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// Whether nothing more will happen to an order in this status.
fn terminal(s: StatusPedido) -> bool {
    matches!(
        s,
        StatusPedido::Entregue | StatusPedido::Cancelado | StatusPedido::Rejeitado
    )
}

fn sse_event(e: &EventoPedido) -> Event {
    let data = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
    Event::default()
        .id(e.seq.to_string())
        .event("pedido")
        .data(data)
}

struct Poll {
    st: AppState,
    id: String,
    session: String,
    last: u64,
    started: Instant,
    first: bool,
    done: bool,
}

/// Reads the order's log every [`POLL`] and sends what is new, until the order can change no
/// more or the stream's life ends.
fn poll_stream(
    st: AppState,
    id: String,
    session: String,
    desde: u64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let state = Poll {
        st,
        id,
        session,
        last: desde,
        started: Instant::now(),
        first: true,
        done: false,
    };
    stream::unfold(state, |mut s| async move {
        if s.done || s.started.elapsed() > STREAM_LIFE {
            return None;
        }
        if !s.first {
            tokio::time::sleep(POLL).await;
        }
        s.first = false;
        let reader = Reader::Session(&s.session);
        let novos: Vec<Event> = match s.st.api.eventos(&s.id, reader).await {
            Ok(evs) => {
                let mut out = Vec::new();
                let from = s.last;
                for e in evs.iter().filter(|e| e.seq > from) {
                    out.push(sse_event(e));
                    s.last = e.seq;
                }
                if let Ok(p) = s.st.api.pedido(&s.id, reader).await {
                    s.done = terminal(p.status) && evs.last().is_none_or(|e| e.seq <= s.last);
                }
                out
            }
            Err(e) => {
                tracing::debug!(error = %e, "order events unavailable; retrying");
                Vec::new()
            }
        };
        Some((stream::iter(novos.into_iter().map(Ok)), s))
    })
    .flatten()
}

/// `meus-pedidos.html`.
#[derive(Template)]
#[template(path = "meus-pedidos.html")]
pub struct MeusPedidos {
    l: Layout,
    pedidos: Vec<PedidoView>,
}

/// `GET /meus-pedidos`: the orders placed from this browser, read with its session.
pub async fn meus_pedidos(State(st): State<AppState>, Extension(v): Extension<Visit>) -> Response {
    let results: Vec<Result<Pedido, ApiError>> = stream::iter(v.orders.clone())
        .map(|id| {
            let api = st.api.clone();
            let session = v.session.clone();
            async move { api.pedido(&id, Reader::Session(&session)).await }
        })
        .buffered(4)
        .collect()
        .await;
    let mut l = Layout::new("Meus pedidos", &v.csrf);
    if results
        .iter()
        .any(|r| matches!(r, Err(ApiError::Unavailable(_))))
    {
        l = l.aviso(crate::view::Aviso::erro(
            "Alguns pedidos não carregaram agora. Tente novamente em instantes.",
        ));
    }
    let pedidos = results
        .into_iter()
        .filter_map(Result::ok)
        .map(|p| PedidoView::new(&p))
        .collect();
    render(&MeusPedidos { l, pedidos })
}
