//! The outbox publisher: moves events from the `outbox` tree to their consumers, oldest
//! first, and forgets them only once acknowledged — at least once, so consumers deduplicate
//! on `event_id` (`{pedido_id}:{seq}`). One event at a time in order, so each order's events
//! arrive in order.
//!
//! - With a Redis URL: to the stream `pedidos:eventos`, whose entries have the fields
//!   `event_id`, `pedido_id`, `seq`, `tipo`, `status`, `session_id` and `evento` (the whole
//!   `EventoPedido` as JSON).
//! - Without: straight to the cart, one idempotent HTTP call per event ([`crate::direct`]).
//!
//! Failures back off (50 ms doubling to 2 s). While they last the outbox is capped at
//! `max_pendentes` events: past it the oldest are dropped, counted in
//! `orders_outbox_dropped_total` and logged — a consumer that is gone for good costs a
//! bounded amount of disk, never an outbox that grows forever.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use confeitaria_types::orders::STREAM_EVENTOS;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::direct::{Entrega, EntregaDireta};
use crate::failpoint::{self, Failpoint};
use crate::metrics::{add, inc, Metrics};
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
    /// Nowhere to publish (an embedding gave no destination): events stay in the outbox.
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
pub struct Estado {
    status: AtomicU8,
    direto: AtomicBool,
}

impl Default for Estado {
    fn default() -> Self {
        Self {
            status: AtomicU8::new(Publicacao::Desativada as u8),
            direto: AtomicBool::new(false),
        }
    }
}

impl Estado {
    /// The current status.
    pub fn get(&self) -> Publicacao {
        match self.status.load(Ordering::Relaxed) {
            1 => Publicacao::Conectada,
            2 => Publicacao::Desconectada,
            _ => Publicacao::Desativada,
        }
    }

    /// Where events go: `redis` (the stream) or `direct` (HTTP calls to the cart).
    pub fn destino(&self) -> &'static str {
        if self.direto.load(Ordering::Relaxed) {
            "direct"
        } else {
            "redis"
        }
    }

    fn set(&self, p: Publicacao) {
        self.status.store(p as u8, Ordering::Relaxed);
    }
}

/// Where the outbox goes.
// One per outbox, built once at start-up: the size difference costs nothing (clippy's
// `large_enum_variant` failed the workspace check on main).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Destino {
    /// The stream `pedidos:eventos` in the Redis at this URL.
    Redis(String),
    /// The cart service, directly.
    Carrinho(EntregaDireta),
}

/// A destination being sent to.
enum Envio {
    Redis {
        client: redis::Client,
        conn: Option<ConnectionManager>,
    },
    Direto(EntregaDireta),
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
    /// Most events kept while they cannot be delivered; past it the oldest are dropped.
    pub max_pendentes: usize,
}

impl Publicador {
    /// Publishes to `destino` until `cancel`; returns at once (status `disabled`) without
    /// one, leaving events in the outbox.
    pub async fn run(self, destino: Option<Destino>, cancel: CancellationToken) {
        let Some(destino) = destino else {
            self.estado.set(Publicacao::Desativada);
            tracing::warn!("no Redis URL and no cart: order events stay in the outbox");
            return;
        };
        let mut envio = match destino {
            Destino::Redis(url) => match redis::Client::open(url) {
                Ok(client) => Envio::Redis { client, conn: None },
                Err(e) => {
                    tracing::error!(error = %e, "invalid Redis URL: publishing disabled");
                    return;
                }
            },
            Destino::Carrinho(d) => {
                self.estado.direto.store(true, Ordering::Relaxed);
                tracing::info!("no Redis URL: order events are delivered to the cart directly");
                Envio::Direto(d)
            }
        };
        self.estado.set(Publicacao::Desconectada);
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
            let (feitos, erro) = self.enviar(&mut envio, &lote).await;
            if feitos > 0 {
                failpoint::hit(Failpoint::AfterPublish);
                let chaves: Vec<u64> = lote[..feitos].iter().map(|(k, _)| *k).collect();
                if let Err(e) = self.store.outbox_remover(&chaves) {
                    tracing::error!(error = %e, "cannot trim the outbox (events will be republished)");
                }
                add(&self.metrics.publicados, feitos);
            }
            let Some(e) = erro else {
                backoff = Duration::from_millis(50);
                self.estado.set(Publicacao::Conectada);
                continue;
            };
            inc(&self.metrics.falhas_publicacao);
            if self.estado.get() != Publicacao::Desconectada {
                tracing::warn!(error = %e, pending = self.store.outbox_len(), "cannot publish order events; retrying");
            }
            self.estado.set(Publicacao::Desconectada);
            self.limitar();
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Sends `lote` in order; returns how many of its first events were acknowledged, and
    /// why the next one was not.
    async fn enviar(
        &self,
        envio: &mut Envio,
        lote: &[(u64, EntradaOutbox)],
    ) -> (usize, Option<String>) {
        match envio {
            Envio::Redis { client, conn } => match self.publicar(client, conn, lote).await {
                Ok(()) => (lote.len(), None),
                Err(e) => {
                    *conn = None;
                    (0, Some(e))
                }
            },
            Envio::Direto(d) => {
                for (i, (_, e)) in lote.iter().enumerate() {
                    match d.entregar(e).await {
                        Ok(Entrega::Aceita) => {}
                        Ok(Entrega::Recusada(why)) => {
                            inc(&self.metrics.descartados);
                            tracing::error!(event_id = %e.evento.id, %why, "the cart refused an order event: dropped");
                        }
                        Err(why) => return (i, Some(why)),
                    }
                }
                (lote.len(), None)
            }
        }
    }

    /// Drops the oldest events while the outbox holds more than `max_pendentes`.
    fn limitar(&self) {
        let excesso = self.store.outbox_len().saturating_sub(self.max_pendentes);
        if excesso == 0 {
            return;
        }
        let chaves: Vec<u64> = match self.store.outbox_lote(excesso) {
            Ok(l) => l.into_iter().map(|(k, _)| k).collect(),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                return;
            }
        };
        match self.store.outbox_remover(&chaves) {
            Ok(()) => {
                add(&self.metrics.descartados, chaves.len());
                tracing::warn!(
                    dropped = chaves.len(),
                    max = self.max_pendentes,
                    "outbox full while its consumer is unreachable: oldest order events dropped"
                );
            }
            Err(e) => tracing::error!(error = %e, "cannot trim the outbox"),
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
