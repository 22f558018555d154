//! The outbox publisher: moves events from the `outbox` tree to the Redis stream
//! `pedidos:eventos`, oldest first, and forgets them only once Redis acknowledged them — at
//! least once, so consumers deduplicate on `event_id`.
//!
//! Each stream entry has the fields `event_id`, `pedido_id`, `seq`, `tipo`, `status`,
//! `session_id` and `evento` (the whole `EventoPedido` as JSON). Without a Redis URL the
//! publisher is disabled and events wait in the outbox.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use confeitaria_types::orders::STREAM_EVENTOS;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::failpoint;
use crate::metrics::{inc, Metrics};
use crate::store::{EntradaOutbox, Store};

/// Events sent to Redis in one pipeline.
const LOTE: usize = 100;
/// Approximate cap of the stream's length (`XADD MAXLEN ~`).
const MAXLEN: u64 = 1_000_000;
/// Longest pause between attempts while Redis is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What the publisher is doing, for `/ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Publicacao {
    /// No Redis URL configured: events stay in the outbox.
    Desativada = 0,
    /// Connected; the last attempt succeeded.
    Conectada = 1,
    /// Redis is unreachable; retrying with backoff.
    Desconectada = 2,
}

impl Publicacao {
    /// The wire name: `disabled`, `connected`, `disconnected`.
    pub fn as_str(self) -> &'static str {
        match self {
            Publicacao::Desativada => "disabled",
            Publicacao::Conectada => "connected",
            Publicacao::Desconectada => "disconnected",
        }
    }
}

/// Shared publisher status.
#[derive(Debug)]
pub struct Estado(AtomicU8);

impl Default for Estado {
    fn default() -> Self {
        Self(AtomicU8::new(Publicacao::Desativada as u8))
    }
}

impl Estado {
    /// The current status.
    pub fn get(&self) -> Publicacao {
        match self.0.load(Ordering::Relaxed) {
            1 => Publicacao::Conectada,
            2 => Publicacao::Desconectada,
            _ => Publicacao::Desativada,
        }
    }

    fn set(&self, p: Publicacao) {
        self.0.store(p as u8, Ordering::Relaxed);
    }
}

/// The publisher's settings and collaborators.
#[derive(Clone)]
pub struct Publicador {
    /// The order store whose outbox is drained.
    pub store: Store,
    /// Woken when new events are flushed.
    pub novidade: Arc<Notify>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Status for `/ready`.
    pub estado: Arc<Estado>,
    /// Deadline of each Redis call, connecting included.
    pub deadline: Duration,
}

impl Publicador {
    /// Publishes until `cancel`; returns at once (status `disabled`) without a URL.
    pub async fn run(self, redis_url: Option<String>, cancel: CancellationToken) {
        let Some(url) = redis_url else {
            self.estado.set(Publicacao::Desativada);
            tracing::warn!("no Redis URL: order events stay in the outbox (publishing disabled)");
            return;
        };
        let client = match redis::Client::open(url) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "invalid Redis URL: publishing disabled");
                return;
            }
        };
        self.estado.set(Publicacao::Desconectada);
        let mut conn: Option<ConnectionManager> = None;
        let mut backoff = Duration::from_millis(50);
        loop {
            if cancel.is_cancelled() {
                return;
            }
            let lote = match self.store.outbox_lote(LOTE) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the outbox");
                    Vec::new()
                }
            };
            if lote.is_empty() {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = self.novidade.notified() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            match self.publicar(&client, &mut conn, &lote).await {
                Ok(()) => {
                    backoff = Duration::from_millis(50);
                    self.estado.set(Publicacao::Conectada);
                    failpoint::hit("after_publish");
                    let chaves: Vec<u64> = lote.iter().map(|(k, _)| *k).collect();
                    if let Err(e) = self.store.outbox_remover(&chaves) {
                        tracing::error!(error = %e, "cannot trim the outbox (events will be republished)");
                    }
                    for _ in &chaves {
                        inc(&self.metrics.publicados);
                    }
                }
                Err(e) => {
                    conn = None;
                    inc(&self.metrics.falhas_publicacao);
                    if self.estado.get() != Publicacao::Desconectada {
                        tracing::warn!(error = %e, pending = self.store.outbox_len(), "cannot publish order events; retrying");
                    }
                    self.estado.set(Publicacao::Desconectada);
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn publicar(
        &self,
        client: &redis::Client,
        conn: &mut Option<ConnectionManager>,
        lote: &[(u64, EntradaOutbox)],
    ) -> Result<(), String> {
        if conn.is_none() {
            let cfg = ConnectionManagerConfig::new()
                .set_connection_timeout(self.deadline)
                .set_response_timeout(self.deadline)
                .set_number_of_retries(1);
            let c = tokio::time::timeout(
                self.deadline * 2,
                ConnectionManager::new_with_config(client.clone(), cfg),
            )
            .await
            .map_err(|_| "connect: deadline exceeded".to_owned())?
            .map_err(|e| format!("connect: {e}"))?;
            *conn = Some(c);
        }
        let Some(c) = conn.as_mut() else {
            return Err("no connection".into());
        };
        let mut pipe = redis::pipe();
        for (_, e) in lote {
            let evento = serde_json::to_string(&e.evento).map_err(|e| e.to_string())?;
            pipe.cmd("XADD")
                .arg(STREAM_EVENTOS)
                .arg("MAXLEN")
                .arg("~")
                .arg(MAXLEN)
                .arg("*")
                .arg("event_id")
                .arg(&e.evento.id)
                .arg("pedido_id")
                .arg(&e.evento.pedido_id)
                .arg("seq")
                .arg(e.evento.seq)
                .arg("tipo")
                .arg(e.evento.dados.tipo())
                .arg("status")
                .arg(e.status.as_str())
                .arg("session_id")
                .arg(&e.session_id)
                .arg("evento")
                .arg(evento)
                .ignore();
        }
        tokio::time::timeout(self.deadline, pipe.query_async::<()>(c))
            .await
            .map_err(|_| "XADD: deadline exceeded".to_owned())?
            .map_err(|e| format!("XADD: {e}"))
    }
}
