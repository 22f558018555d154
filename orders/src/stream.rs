//! `GET /api/pedidos/{id}/eventos/stream`: an order's events as Server-Sent Events, for a
//! page that follows the order live. Same readers as `GET /api/pedidos/{id}` (the owner's
//! `X-Session-Id`, or an admin token).
//!
//! Each event is `id: <seq>`, `event: pedido`, `data: <the EventoPedido as JSON, plus
//! "status": the order's status after it>`. The stream first sends the events after
//! `Last-Event-ID` (all of them without it), then each new one as soon as it is durable,
//! with a keep-alive comment every 10 s; it ends when the service shuts down, and a client
//! that reconnects with the last id it saw misses nothing and sees nothing twice.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::watch;

use crate::api::{reader, visible_order};
use crate::error::OrdersError;
use crate::machine;
use crate::AppState;

/// Interval of the keep-alive comments.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Where one stream stands.
struct Cursor {
    st: AppState,
    id: String,
    /// The last `seq` sent.
    after_seq: u64,
    flushed: watch::Receiver<u64>,
    prontos: VecDeque<Event>,
}

impl Cursor {
    /// Queues the order's events after `after_seq`, each with the status it led to.
    fn load_new(&mut self) -> Result<(), String> {
        let eventos = self
            .st
            .saga
            .store
            .events(&self.id)
            .map_err(|e| e.to_string())?;
        let mut state = None;
        for ev in &eventos {
            let next = machine::apply_event(state, ev).map_err(|e| e.to_string())?;
            if ev.seq > self.after_seq {
                let mut data = serde_json::to_value(ev).map_err(|e| e.to_string())?;
                data["status"] = serde_json::Value::from(next.pedido.status.as_str());
                self.prontos.push_back(
                    Event::default()
                        .id(ev.seq.to_string())
                        .event("pedido")
                        .data(data.to_string()),
                );
                self.after_seq = ev.seq;
            }
            state = Some(next);
        }
        Ok(())
    }

    /// The next event; `None` once the service is closing (or the log cannot be read).
    async fn next_event(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(ev) = self.prontos.pop_front() {
                return Some((Ok(ev), self));
            }
            if self.st.closing.is_cancelled() {
                return None;
            }
            // Seen before reading: an event flushed after this line wakes the wait below.
            self.flushed.borrow_and_update();
            if let Err(e) = self.load_new() {
                tracing::error!(pedido = %self.id, error = %e, "event stream: cannot read the log");
                return None;
            }
            if !self.prontos.is_empty() {
                continue;
            }
            tokio::select! {
                () = self.st.closing.cancelled() => return None,
                r = self.flushed.changed() => r.ok()?,
            }
        }
    }
}

/// `GET /api/pedidos/{id}/eventos/stream` (`text/event-stream`).
#[utoipa::path(
    get,
    path = "/api/pedidos/{id}/eventos/stream",
    summary = "The order's events live, as Server-Sent Events (the owner's X-Session-Id, or admin): the events after Last-Event-ID first, then each new one; keep-alive comments every 10 s; ends on shutdown",
    params(
        ("id" = confeitaria_types::schema::PedidoId, Path, description = "the order"),
        ("X-Session-Id" = Option<String>, Header, description = "the owner's session id (else an admin bearer token)"),
        ("Last-Event-ID" = Option<String>, Header, description = "the seq of the last event seen"),
    ),
    security(("admin" = []), ()),
    responses(
        (status = 200, description = "text/event-stream; each event has id: <seq>, event: pedido, data: the EventoPedido as JSON plus status (the order's status after it)"),
        (status = 401, description = "unauthorized: no credentials, or a bad token", body = confeitaria_types::ErrorBody),
        (status = 403, description = "forbidden: a token that is not admin", body = confeitaria_types::ErrorBody),
        (status = 404, description = "not_found: unknown order, or not this session's", body = confeitaria_types::ErrorBody),
    )
)]
pub async fn stream_events(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, OrdersError> {
    let reader = reader(&st, &headers)?;
    let pedido = visible_order(&st, &id, &reader)?;
    let after_seq = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let cursor = Cursor {
        flushed: st.saga.flushed.subscribe(),
        st,
        id: pedido.id,
        after_seq,
        prontos: VecDeque::new(),
    };
    let stream = futures::stream::unfold(cursor, Cursor::next_event);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
