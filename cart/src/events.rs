//! The consumer of the orders' event stream `pedidos:eventos`: once an order is confirmed,
//! its shopper's cart is emptied — once per event, however often the event is delivered.
//!
//! - Entries are read in the consumer group [`GROUP`] (`XREADGROUP`) and acknowledged
//!   (`XACK`) only after they are handled, so an entry read by a process that died before
//!   handling it stays pending. This consumer's own pending entries are read again (id `0`)
//!   at start and after every failure; other consumers' entries idle for longer than
//!   `claim_idle` are taken over with `XAUTOCLAIM`.
//! - Delivery is at least once, and the orders outbox may publish one event twice (two
//!   stream entries, one `event_id`). The ids of handled confirmations are remembered in
//!   Redis ([`DEDUPE_PREFIX`]`{event_id}`, with a TTL; [`crate::dedupe`]), so a repeat
//!   cannot empty a new cart the shopper started under the same session.
//! - Only `tipo == "confirmado"` does anything; every other entry is acknowledged and
//!   forgotten, and so is a malformed one (logged) — it must not block the stream.
//! - Carts may live anywhere ([`CartStore`]); the stream and the handled ids live in the
//!   Redis at [`EventsConfig::url`]. Every call runs under a deadline through a
//!   [`RedisLink`], failures back off (50 ms doubling to 1 s) and the link reconnects by
//!   itself; the consumer stops when its cancellation token fires.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use confeitaria_types::orders::STREAM_EVENTOS;
use redis::streams::StreamAutoClaimReply;
use redis::Value;
use tokio_util::sync::CancellationToken;

use crate::dedupe::{self, SeenInRedis};
pub use crate::dedupe::{EventOutcome, DEDUPE_PREFIX};
use crate::metrics::Metrics;
use crate::redis_link::RedisLink;
use crate::session::SessionId;
use crate::store::{CartStore, StoreError};
use crate::AppState;

/// The consumer group every cart process reads in.
pub const GROUP: &str = "cart";
/// Entries read (and claimed) per call.
const BATCH: usize = 100;
/// Most `XAUTOCLAIM` pages scanned in one go (each scans at most `10 × BATCH` entries).
const CLAIM_PAGES: usize = 10;
/// First pause after a failure; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// Longest pause between attempts while Redis (or the cart store) is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Longest pause between two scans for other consumers' stalled entries.
const MAX_CLAIM_EVERY: Duration = Duration::from_secs(5);

/// How to reach the stream and how to behave on it. (No `Debug`: the URL may hold a
/// password.)
#[derive(Clone)]
pub struct EventsConfig {
    /// The Redis holding `pedidos:eventos`.
    pub url: String,
    /// This process's name in the group; stable across restarts, so that a restarted
    /// process re-handles what it had read but not acknowledged. Distinct per replica.
    pub consumer: String,
    /// Deadline of each Redis call, connecting included.
    pub deadline: Duration,
    /// How long one read waits for new entries (`XREADGROUP BLOCK`); the read's own
    /// deadline is this plus `deadline`.
    pub block: Duration,
    /// Entries pending this long under another consumer are taken over (a replica that
    /// died, or was renamed, without acknowledging them).
    pub claim_idle: Duration,
    /// How long a handled confirmation is remembered.
    pub dedupe_ttl: Duration,
}

impl EventsConfig {
    /// Defaults: consumer `cart-1`, 500 ms deadline, 1 s block, 30 s claim idle, 7 days
    /// of memory.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            consumer: "cart-1".to_owned(),
            deadline: Duration::from_millis(500),
            block: Duration::from_secs(1),
            claim_idle: Duration::from_secs(30),
            dedupe_ttl: Duration::from_secs(7 * 24 * 60 * 60),
        }
    }
}

/// What the consumer is doing, for `/ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ConsumerStatus {
    /// No consumer configured.
    Disabled = 0,
    /// The last read or handling succeeded.
    Connected = 1,
    /// Redis (or the cart store) is unreachable; retrying.
    Disconnected = 2,
}

impl ConsumerStatus {
    /// The wire name: `disabled`, `connected`, `disconnected`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerStatus::Disabled => "disabled",
            ConsumerStatus::Connected => "connected",
            ConsumerStatus::Disconnected => "disconnected",
        }
    }
}

/// Shared consumer status (starts `disabled`).
#[derive(Debug, Default)]
pub struct ConsumerState(AtomicU8);

impl ConsumerState {
    /// The current status.
    pub fn get(&self) -> ConsumerStatus {
        match self.0.load(Ordering::Relaxed) {
            1 => ConsumerStatus::Connected,
            2 => ConsumerStatus::Disconnected,
            _ => ConsumerStatus::Disabled,
        }
    }

    fn set(&self, c: ConsumerStatus) {
        self.0.store(c as u8, Ordering::Relaxed);
    }
}

/// One stream entry: its id and fields (`None` when trimmed while pending).
#[derive(Debug)]
struct StreamEntry {
    id: String,
    entry_fields: Option<HashMap<String, String>>,
}

/// Where the loop stands.
struct Cursor {
    /// The group is known to exist (cleared after any failure: Redis may have restarted
    /// empty).
    group_ready: bool,
    /// This consumer's pending list may hold entries (at start, after a failure or a claim).
    pending: bool,
    /// When to scan for other consumers' stalled entries next.
    next_claim: Instant,
}

/// The consumer; [`Consumer::run`] drives it.
pub struct Consumer {
    link: Arc<RedisLink>,
    seen: SeenInRedis,
    store: Arc<dyn CartStore>,
    metrics: Arc<Metrics>,
    status: Arc<ConsumerState>,
    config: EventsConfig,
}

impl Consumer {
    /// Checks the URL; connects only when run.
    pub fn new(
        config: EventsConfig,
        store: Arc<dyn CartStore>,
        metrics: Arc<Metrics>,
        status: Arc<ConsumerState>,
    ) -> Result<Self, StoreError> {
        let link = RedisLink::new(&config.url, config.deadline, config.block + config.deadline)?;
        let link = Arc::new(link);
        Ok(Self {
            seen: SeenInRedis::new(link.clone(), config.dedupe_ttl),
            link,
            store,
            metrics,
            status,
            config,
        })
    }

    /// A consumer emptying carts of `state`'s store, counting into its metrics and reporting
    /// into its `/ready`.
    pub fn for_state(config: EventsConfig, state: &AppState) -> Result<Self, StoreError> {
        Self::new(
            config,
            state.store.clone(),
            state.metrics.clone(),
            state.eventos.clone(),
        )
    }

    /// Consumes until `cancel` fires. Never returns early: failures are retried.
    pub async fn run(self, cancel: CancellationToken) {
        self.status.set(ConsumerStatus::Disconnected);
        let mut cursor = Cursor {
            group_ready: false,
            pending: true,
            next_claim: Instant::now(),
        };
        let mut backoff = MIN_BACKOFF;
        let mut failing = false;
        while !cancel.is_cancelled() {
            match self.step(&mut cursor, &cancel).await {
                Ok(()) => {
                    if failing {
                        tracing::info!("order events: consuming again");
                        failing = false;
                    }
                    backoff = MIN_BACKOFF;
                    self.status.set(ConsumerStatus::Connected);
                }
                Err(e) => {
                    self.metrics.record_event_failure();
                    if !failing {
                        tracing::warn!(error = %e, "order events: cannot consume; retrying");
                        failing = true;
                    }
                    self.status.set(ConsumerStatus::Disconnected);
                    cursor.group_ready = false;
                    cursor.pending = true;
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        tracing::info!("order events: consumer stopped");
    }

    /// One read and its handling.
    async fn step(
        &self,
        cursor: &mut Cursor,
        cancel: &CancellationToken,
    ) -> Result<(), StoreError> {
        if !cursor.group_ready {
            self.create_group().await?;
            cursor.group_ready = true;
        }
        if Instant::now() >= cursor.next_claim {
            if self.claim_stalled().await? > 0 {
                cursor.pending = true;
            }
            cursor.next_claim = Instant::now() + self.config.claim_idle.min(MAX_CLAIM_EVERY);
        }
        let stream_entries = if cursor.pending {
            let e = self.read_entries("0", None).await?;
            if e.is_empty() {
                cursor.pending = false;
                return Ok(());
            }
            e
        } else {
            tokio::select! {
                // Entries this read had already taken stay pending: the next start re-reads them.
                () = cancel.cancelled() => return Ok(()),
                r = self.read_entries(">", Some(self.config.block.max(Duration::from_millis(1)))) => r?,
            }
        };
        self.handle_batch(stream_entries, cancel).await
    }

    /// `XGROUP CREATE pedidos:eventos cart 0 MKSTREAM`; an existing group is fine. From `0`:
    /// a group created after events were published (first start, or a Redis that lost its
    /// data) still sees them.
    async fn create_group(&self) -> Result<(), StoreError> {
        let criado = self
            .link
            .bounded("XGROUP CREATE", async {
                let mut c = self.link.conn().await?;
                let r: redis::RedisResult<()> = redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(STREAM_EVENTOS)
                    .arg(GROUP)
                    .arg("0")
                    .arg("MKSTREAM")
                    .query_async(&mut c)
                    .await;
                match r {
                    Ok(()) => Ok(true),
                    Err(e) if e.code() == Some("BUSYGROUP") => Ok(false),
                    Err(e) => Err(e),
                }
            })
            .await?;
        if criado {
            tracing::info!(group = GROUP, "order events: consumer group created");
        }
        Ok(())
    }

    /// Takes over entries idle longer than `claim_idle` (`XAUTOCLAIM ... JUSTID`); they join
    /// this consumer's pending list. Returns how many.
    async fn claim_stalled(&self) -> Result<usize, StoreError> {
        let idle_ms = millis(self.config.claim_idle);
        let mut inicio = "0-0".to_owned();
        let mut total = 0;
        for _ in 0..CLAIM_PAGES {
            let r: StreamAutoClaimReply = self
                .link
                .bounded("XAUTOCLAIM", async {
                    let mut c = self.link.conn().await?;
                    redis::cmd("XAUTOCLAIM")
                        .arg(STREAM_EVENTOS)
                        .arg(GROUP)
                        .arg(&self.config.consumer)
                        .arg(idle_ms)
                        .arg(&inicio)
                        .arg("COUNT")
                        .arg(BATCH)
                        .arg("JUSTID")
                        .query_async(&mut c)
                        .await
                })
                .await?;
            total += r.claimed.len();
            if r.next_stream_id == "0-0" {
                break;
            }
            inicio = r.next_stream_id;
        }
        if total > 0 {
            tracing::info!(entries = total, "order events: took over stalled entries");
        }
        Ok(total)
    }

    /// `XREADGROUP`: from this consumer's pending list (`0`) or new entries (`>`, blocking).
    async fn read_entries(
        &self,
        id: &str,
        block: Option<Duration>,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(GROUP)
            .arg(&self.config.consumer)
            .arg("COUNT")
            .arg(BATCH);
        if let Some(b) = block {
            cmd.arg("BLOCK").arg(millis(b));
        }
        cmd.arg("STREAMS").arg(STREAM_EVENTOS).arg(id);
        let limite = block.unwrap_or_default() + self.link.deadline();
        let v: Value = self
            .link
            .bounded_for("XREADGROUP", limite, async {
                let mut c = self.link.conn().await?;
                cmd.query_async(&mut c).await
            })
            .await?;
        stream_entries(v)
    }

    /// Handles entries in order and acknowledges those handled, even when a later one
    /// fails (it stays pending and is retried).
    async fn handle_batch(
        &self,
        stream_entries: Vec<StreamEntry>,
        cancel: &CancellationToken,
    ) -> Result<(), StoreError> {
        let mut feitas = Vec::with_capacity(stream_entries.len());
        let mut falha = None;
        for e in stream_entries {
            // Stop between entries, never inside one: a handled entry is always acknowledged.
            if cancel.is_cancelled() {
                break;
            }
            match self.handle(&e).await {
                Ok(r) => {
                    self.metrics.record_event(r.as_str());
                    feitas.push(e.id);
                }
                Err(err) => {
                    falha = Some(err);
                    break;
                }
            }
        }
        if !feitas.is_empty() {
            // If this fails the entries stay pending and come back; the remembered ids make
            // handling them again harmless.
            self.link
                .bounded("XACK", async {
                    let mut c = self.link.conn().await?;
                    redis::cmd("XACK")
                        .arg(STREAM_EVENTOS)
                        .arg(GROUP)
                        .arg(&feitas)
                        .query_async::<i64>(&mut c)
                        .await
                })
                .await?;
        }
        falha.map_or(Ok(()), Err)
    }

    /// One entry. Errors only when Redis or the store failed (the entry is then retried).
    async fn handle(&self, e: &StreamEntry) -> Result<EventOutcome, StoreError> {
        let Some(entry_fields) = &e.entry_fields else {
            return Ok(EventOutcome::Gone);
        };
        match entry_fields.get("tipo").map(String::as_str) {
            Some("confirmado") => {}
            Some(_) => return Ok(EventOutcome::Ignored),
            None => {
                tracing::warn!(entry = %e.id, "order event without tipo: dropped");
                return Ok(EventOutcome::Invalid);
            }
        }
        let event_id = entry_fields.get("event_id").filter(|id| !id.is_empty());
        let session = entry_fields
            .get("session_id")
            .and_then(|s| SessionId::parse(s));
        let (Some(event_id), Some(session)) = (event_id, session) else {
            tracing::warn!(entry = %e.id, "confirmation without a valid event_id or session_id: dropped");
            return Ok(EventOutcome::Invalid);
        };
        dedupe::apply_event(
            self.store.as_ref(),
            &self.seen,
            "confirmado",
            event_id,
            &session,
        )
        .await
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn corrupt(what: &str, v: &Value) -> StoreError {
    StoreError::Corrupt(format!("XREADGROUP: unexpected {what}: {v:?}"))
}

fn text(v: &Value) -> Result<String, StoreError> {
    redis::from_redis_value(v).map_err(|_| corrupt("non-text value", v))
}

/// Pairs of a RESP2 array or a RESP3 map.
fn pairs(v: Value) -> Result<Vec<(Value, Value)>, StoreError> {
    match v {
        Value::Map(m) => Ok(m),
        Value::Array(a) => {
            if a.len() % 2 != 0 {
                return Err(corrupt("odd field list", &Value::Array(a)));
            }
            let mut it = a.into_iter();
            let mut out = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                out.push((k, v));
            }
            Ok(out)
        }
        other => Err(corrupt("field list", &other)),
    }
}

/// Parses an `XREADGROUP` reply: nil (nothing within the block), or per stream
/// `[name, [[id, [field, value, ...] | nil], ...]]`.
fn stream_entries(v: Value) -> Result<Vec<StreamEntry>, StoreError> {
    let fluxos: Vec<Value> = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(a) => a
            .into_iter()
            .map(|s| match s {
                Value::Array(mut kv) if kv.len() == 2 => {
                    kv.pop().ok_or_else(|| corrupt("stream", &Value::Nil))
                }
                other => Err(corrupt("stream", &other)),
            })
            .collect::<Result<_, _>>()?,
        Value::Map(m) => m.into_iter().map(|(_, v)| v).collect(),
        other => return Err(corrupt("reply", &other)),
    };
    let mut out = Vec::new();
    for fluxo in fluxos {
        let Value::Array(itens) = fluxo else {
            return Err(corrupt("entry list", &fluxo));
        };
        for item in itens {
            let Value::Array(mut par) = item else {
                return Err(corrupt("entry", &item));
            };
            if par.len() != 2 {
                return Err(corrupt("entry", &Value::Array(par)));
            }
            let fields_value = par.pop().unwrap_or(Value::Nil);
            let id = text(&par[0])?;
            let entry_fields = match fields_value {
                Value::Nil => None,
                v => Some(
                    pairs(v)?
                        .iter()
                        .map(|(k, v)| Ok((text(k)?, text(v)?)))
                        .collect::<Result<HashMap<_, _>, StoreError>>()?,
                ),
            };
            out.push(StreamEntry { id, entry_fields });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn parses_entries_and_trimmed_ones() {
        let v = Value::Array(vec![Value::Array(vec![
            b(STREAM_EVENTOS),
            Value::Array(vec![
                Value::Array(vec![
                    b("1-0"),
                    Value::Array(vec![b("tipo"), b("confirmado"), b("event_id"), b("p:2")]),
                ]),
                Value::Array(vec![b("2-0"), Value::Nil]),
            ]),
        ])]);
        let e = stream_entries(v).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].id, "1-0");
        let entry_fields = e[0].entry_fields.as_ref().unwrap();
        assert_eq!(entry_fields["tipo"], "confirmado");
        assert_eq!(entry_fields["event_id"], "p:2");
        assert_eq!(e[1].id, "2-0");
        assert!(e[1].entry_fields.is_none());
    }

    #[test]
    fn nil_is_no_entries_and_garbage_is_refused() {
        assert!(stream_entries(Value::Nil).unwrap().is_empty());
        assert!(stream_entries(Value::Int(3)).is_err());
        let odd = Value::Array(vec![Value::Array(vec![
            b(STREAM_EVENTOS),
            Value::Array(vec![Value::Array(vec![
                b("1-0"),
                Value::Array(vec![b("tipo")]),
            ])]),
        ])]);
        assert!(stream_entries(odd).is_err());
    }

    #[test]
    fn status_names() {
        let e = ConsumerState::default();
        assert_eq!(e.get().as_str(), "disabled");
        e.set(ConsumerStatus::Connected);
        assert_eq!(e.get().as_str(), "connected");
    }
}
