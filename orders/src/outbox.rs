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
//! `max_pending` events: past it the oldest are dropped, counted in
//! `orders_outbox_dropped_total` and logged — a consumer that is gone for good costs a
//! bounded amount of disk, never an outbox that grows forever.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use confeitaria_types::orders::STREAM_EVENTOS;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::direct::{Delivery, DirectDelivery};
use crate::failpoint::{self, Failpoint};
use crate::metrics::{add, inc, Metrics};
use crate::store::{OutboxEntry, Store};

/// Events sent to Redis in one pipeline.
const BATCH: usize = 100;
/// Approximate cap of the stream's length (`XADD MAXLEN ~`).
const MAXLEN: u64 = 1_000_000;
/// Longest pause between attempts while Redis is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What the publisher is doing, for `/ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Publishing {
    /// Nowhere to publish (an embedding gave no destination): events stay in the outbox.
    Disabled = 0,
    /// Connected; the last attempt succeeded.
    Connected = 1,
    /// Redis is unreachable; retrying with backoff.
    Disconnected = 2,
}

impl Publishing {
    /// The wire name: `disabled`, `connected`, `disconnected`.
    pub fn as_str(self) -> &'static str {
        match self {
            Publishing::Disabled => "disabled",
            Publishing::Connected => "connected",
            Publishing::Disconnected => "disconnected",
        }
    }
}

/// Shared publisher status.
#[derive(Debug)]
pub struct PublisherStatus {
    status: AtomicU8,
    direct: AtomicBool,
}

impl Default for PublisherStatus {
    fn default() -> Self {
        Self {
            status: AtomicU8::new(Publishing::Disabled as u8),
            direct: AtomicBool::new(false),
        }
    }
}

impl PublisherStatus {
    /// The current status.
    pub fn get(&self) -> Publishing {
        match self.status.load(Ordering::Relaxed) {
            1 => Publishing::Connected,
            2 => Publishing::Disconnected,
            _ => Publishing::Disabled,
        }
    }

    /// Where events go: `redis` (the stream) or `direct` (HTTP calls to the cart).
    pub fn destination(&self) -> &'static str {
        if self.direct.load(Ordering::Relaxed) {
            "direct"
        } else {
            "redis"
        }
    }

    fn set(&self, p: Publishing) {
        self.status.store(p as u8, Ordering::Relaxed);
    }
}

/// Where the outbox goes.
// One per outbox, built once at start-up: the size difference costs nothing (clippy's
// `large_enum_variant` failed the workspace check on main).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Destination {
    /// The stream `pedidos:eventos` in the Redis at this URL.
    Redis(String),
    /// The cart service, directly.
    Cart(DirectDelivery),
}

/// A destination being sent to.
enum Sink {
    Redis {
        client: redis::Client,
        conn: Option<ConnectionManager>,
    },
    Direct(DirectDelivery),
}

/// The publisher's settings and collaborators.
#[derive(Clone)]
pub struct Publisher {
    /// The order store whose outbox is drained.
    pub store: Store,
    /// Woken when new events are flushed.
    pub flushed: Arc<Notify>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Status for `/ready`.
    pub status: Arc<PublisherStatus>,
    /// Deadline of each Redis call, connecting included.
    pub deadline: Duration,
    /// Most events kept while they cannot be delivered; past it the oldest are dropped.
    pub max_pending: usize,
}

impl Publisher {
    /// Publishes to `destination` until `cancel`; returns at once (status `disabled`) without
    /// one, leaving events in the outbox.
    pub async fn run(self, destination: Option<Destination>, cancel: CancellationToken) {
        let Some(destination) = destination else {
            self.status.set(Publishing::Disabled);
            tracing::warn!("no Redis URL and no cart: order events stay in the outbox");
            return;
        };
        let mut sink = match destination {
            Destination::Redis(url) => match redis::Client::open(url) {
                Ok(client) => Sink::Redis { client, conn: None },
                Err(e) => {
                    tracing::error!(error = %e, "invalid Redis URL: publishing disabled");
                    return;
                }
            },
            Destination::Cart(d) => {
                self.status.direct.store(true, Ordering::Relaxed);
                tracing::info!("no Redis URL: order events are delivered to the cart directly");
                Sink::Direct(d)
            }
        };
        self.status.set(Publishing::Disconnected);
        let mut backoff = Duration::from_millis(50);
        loop {
            if cancel.is_cancelled() {
                return;
            }
            let batch = match self.store.outbox_batch(BATCH) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the outbox");
                    Vec::new()
                }
            };
            if batch.is_empty() {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = self.flushed.notified() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            let (acked, failure) = self.send(&mut sink, &batch).await;
            if acked > 0 {
                failpoint::hit(Failpoint::AfterPublish);
                let keys: Vec<u64> = batch[..acked].iter().map(|(k, _)| *k).collect();
                if let Err(e) = self.store.outbox_remove(&keys) {
                    tracing::error!(error = %e, "cannot trim the outbox (events will be republished)");
                }
                add(&self.metrics.published, acked);
            }
            let Some(e) = failure else {
                backoff = Duration::from_millis(50);
                self.status.set(Publishing::Connected);
                continue;
            };
            inc(&self.metrics.publish_failures);
            if self.status.get() != Publishing::Disconnected {
                tracing::warn!(error = %e, pending = self.store.outbox_len(), "cannot publish order events; retrying");
            }
            self.status.set(Publishing::Disconnected);
            self.cap();
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Sends `batch` in order; returns how many of its first events were acknowledged, and
    /// why the next one was not.
    async fn send(&self, sink: &mut Sink, batch: &[(u64, OutboxEntry)]) -> (usize, Option<String>) {
        match sink {
            Sink::Redis { client, conn } => {
                match self.publish_to_redis(client, conn, batch).await {
                    Ok(()) => (batch.len(), None),
                    Err(e) => {
                        *conn = None;
                        (0, Some(e))
                    }
                }
            }
            Sink::Direct(d) => {
                for (i, (_, e)) in batch.iter().enumerate() {
                    match d.deliver(e).await {
                        Ok(Delivery::Accepted) => {}
                        Ok(Delivery::Refused(why)) => {
                            inc(&self.metrics.dropped);
                            tracing::error!(event_id = %e.evento.id, %why, "the cart refused an order event: dropped");
                        }
                        Err(why) => return (i, Some(why)),
                    }
                }
                (batch.len(), None)
            }
        }
    }

    /// Drops the oldest events while the outbox holds more than `max_pending`.
    fn cap(&self) {
        let excess = self.store.outbox_len().saturating_sub(self.max_pending);
        if excess == 0 {
            return;
        }
        let keys: Vec<u64> = match self.store.outbox_batch(excess) {
            Ok(l) => l.into_iter().map(|(k, _)| k).collect(),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                return;
            }
        };
        match self.store.outbox_remove(&keys) {
            Ok(()) => {
                add(&self.metrics.dropped, keys.len());
                tracing::warn!(
                    dropped = keys.len(),
                    max = self.max_pending,
                    "outbox full while its consumer is unreachable: oldest order events dropped"
                );
            }
            Err(e) => tracing::error!(error = %e, "cannot trim the outbox"),
        }
    }

    async fn publish_to_redis(
        &self,
        client: &redis::Client,
        conn: &mut Option<ConnectionManager>,
        batch: &[(u64, OutboxEntry)],
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
        for (_, e) in batch {
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
