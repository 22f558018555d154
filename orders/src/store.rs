//! The orders' sled database: an append-only event log per order, and what must change
//! atomically with it.
//!
//! Trees (keys → values):
//! - `eventos`: `{pedido_id}/{seq as u64 big-endian}` → `EventoPedido` JSON (the source of
//!   truth: an order is the fold of its events);
//! - `heads`: `pedido_id` → last `seq` (big-endian), compared-and-set by every append;
//! - `idempotencia`: `Idempotency-Key` → `{pedido_id, corpo}` (the canonical request body);
//! - `outbox`: sled-generated id (big-endian, increasing) → [`OutboxEntry`] JSON, until
//!   Redis acknowledges it;
//! - `abertos` (field `open_steps`): `pedido_id` → `()` for every order with an open saga step;
//! - `a_encerrar` (field `to_close`): `pedido_id` → `()` for every order `entregue` whose reservation the
//!   catalog has not yet been told to close (so that it can forget it).
//!
//! Each append writes its event, head, outbox entry, open-step and to-close marks in one sled
//! transaction; [`Store::flush`] makes them durable (group commit) before anyone is answered.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use confeitaria_types::orders::{DadosEvento, EventoPedido, StatusPedido};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::machine::{self, OrderState};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (disk, corruption it detected).
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value could not be decoded, or the log does not fold.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The event does not fit the order's current state.
    #[error("invalid event: {0}")]
    Invalid(#[from] machine::InvalidEvent),
    /// Another append to the same order happened first.
    #[error("concurrent append to order {0}")]
    Concurrent(String),
}

/// What an `Idempotency-Key` maps to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The order created under the key.
    pub pedido_id: String,
    /// The canonical JSON of the request body that created it.
    #[serde(rename = "corpo")]
    pub body: String,
}

/// One event waiting to be published, with what consumers need beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The event.
    pub evento: EventoPedido,
    /// The order's cart session.
    pub session_id: String,
    /// The order's status after the event.
    pub status: StatusPedido,
}

/// Result of [`Store::create`].
#[derive(Debug)]
pub enum Creation {
    /// The order was recorded `pendente`.
    New(OrderState),
    /// The key was already taken (by this or another body).
    Existing(KeyRecord),
}

#[derive(Debug)]
enum Abort {
    Existing(KeyRecord),
    Concurrent,
    Corrupt(String),
}

/// The orders database.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    events: sled::Tree,
    heads: sled::Tree,
    idempotency: sled::Tree,
    outbox: sled::Tree,
    open_steps: sled::Tree,
    to_close: sled::Tree,
    flusher: Arc<Flusher>,
    /// Flush on the calling thread instead of a blocking-pool thread.
    inline_flush: bool,
}

/// Group commit: concurrent callers share one `flush` of everything written before it began.
#[derive(Debug, Default)]
struct Flusher {
    /// Flushes asked for so far (each caller takes the next ticket).
    requested: AtomicU64,
    /// Tickets whose writes are known durable.
    done: AtomicU64,
    // A tokio mutex: held across the blocking flush so flushes do not pile up.
    turn: tokio::sync::Mutex<()>,
}

fn event_key(pedido_id: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(pedido_id.len() + 9);
    k.extend_from_slice(pedido_id.as_bytes());
    k.push(b'/');
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn u64_from_be(v: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(v)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt("bad u64".into()))
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: serde::de::DeserializeOwned>(v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn evento(pedido_id: &str, seq: u64, dados: DadosEvento) -> EventoPedido {
    EventoPedido {
        id: format!("{pedido_id}:{seq}"),
        pedido_id: pedido_id.to_owned(),
        seq,
        em: confeitaria_types::time::rfc3339_millis(std::time::SystemTime::now()),
        dados,
    }
}

impl Store {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new().path(dir).open()?;
        Ok(Self {
            events: db.open_tree("eventos")?,
            heads: db.open_tree("heads")?,
            idempotency: db.open_tree("idempotencia")?,
            outbox: db.open_tree("outbox")?,
            open_steps: db.open_tree("abertos")?,
            to_close: db.open_tree("a_encerrar")?,
            db,
            flusher: Arc::default(),
            inline_flush: false,
        })
    }

    /// Flushes on the calling task's thread rather than on tokio's blocking pool. For
    /// deterministic simulations: a blocking-pool thread finishes in real time, so where its
    /// completion falls among the runtime's other tasks varies from run to run.
    pub fn with_inline_flush(mut self) -> Self {
        self.inline_flush = true;
        self
    }

    /// Makes everything written so far durable. Callers that arrive while a flush runs share
    /// the next one.
    pub async fn flush(&self) -> Result<(), StoreError> {
        // Our writes happened before this increment, so a flush that starts after reading a
        // count at least `ticket` covers them.
        let ticket = self.flusher.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let _turn = self.flusher.turn.lock().await;
        if self.flusher.done.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        let target = self.flusher.requested.load(Ordering::SeqCst);
        let db = self.db.clone();
        // Synchronous flush on a blocking thread: `flush_async` across runtimes can deadlock
        // (sled issue 1308), and tests run several sled databases in one process.
        if self.inline_flush {
            db.flush()?;
        } else {
            tokio::task::spawn_blocking(move || db.flush())
                .await
                .map_err(|e| StoreError::Corrupt(format!("flush task: {e}")))??;
        }
        self.flusher.done.fetch_max(target, Ordering::SeqCst);
        Ok(())
    }

    /// The key's record, if the key was used.
    pub fn record(&self, key: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.idempotency
            .get(key.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    /// An order's events, in order.
    pub fn events(&self, pedido_id: &str) -> Result<Vec<EventoPedido>, StoreError> {
        let mut prefix = pedido_id.as_bytes().to_vec();
        prefix.push(b'/');
        self.events
            .scan_prefix(prefix)
            .map(|r| r.map_err(StoreError::from).and_then(|(_, v)| decode(&v)))
            .collect()
    }

    /// An order's state: the fold of its events; `None` if there is no such order.
    pub fn state(&self, pedido_id: &str) -> Result<Option<OrderState>, StoreError> {
        let eventos = self.events(pedido_id)?;
        machine::fold(&eventos).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Records a new order (`criado`, status `pendente`) under `key`, unless the key is
    /// taken: then returns what it maps to and writes nothing.
    pub fn create(
        &self,
        key: &str,
        body: &str,
        pedido_id: &str,
        dados: DadosEvento,
    ) -> Result<Creation, StoreError> {
        let ev = evento(pedido_id, 1, dados);
        let state = machine::apply_event(None, &ev)?;
        let record = json(&KeyRecord {
            pedido_id: pedido_id.to_owned(),
            body: body.to_owned(),
        })?;
        let entrada = json(&OutboxEntry {
            evento: ev.clone(),
            session_id: state.pedido.session_id.clone(),
            status: state.pedido.status,
        })?;
        let value = json(&ev)?;
        let r = (
            &self.idempotency,
            &self.heads,
            &self.events,
            &self.outbox,
            &self.open_steps,
        )
            .transaction(|(idem, heads, eventos, outbox, open_steps)| {
                if let Some(v) = idem.get(key.as_bytes())? {
                    let c: KeyRecord = serde_json::from_slice(&v).map_err(|e| {
                        ConflictableTransactionError::Abort(Abort::Corrupt(e.to_string()))
                    })?;
                    return Err(ConflictableTransactionError::Abort(Abort::Existing(c)));
                }
                if heads.get(pedido_id.as_bytes())?.is_some() {
                    return Err(ConflictableTransactionError::Abort(Abort::Concurrent));
                }
                idem.insert(key.as_bytes(), record.clone())?;
                heads.insert(pedido_id.as_bytes(), &1u64.to_be_bytes())?;
                eventos.insert(event_key(pedido_id, 1), value.clone())?;
                outbox.insert(&outbox.generate_id()?.to_be_bytes(), entrada.clone())?;
                open_steps.insert(pedido_id.as_bytes(), &[])?;
                Ok(())
            });
        match r {
            Ok(()) => Ok(Creation::New(state)),
            Err(TransactionError::Abort(Abort::Existing(c))) => Ok(Creation::Existing(c)),
            Err(e) => Err(self.abort_error(pedido_id, e)),
        }
    }

    fn abort_error(&self, pedido_id: &str, e: TransactionError<Abort>) -> StoreError {
        match e {
            TransactionError::Abort(Abort::Corrupt(m)) => StoreError::Corrupt(m),
            TransactionError::Abort(_) => StoreError::Concurrent(pedido_id.to_owned()),
            TransactionError::Storage(e) => StoreError::Sled(e),
        }
    }

    /// Appends `dados` to the order whose current state is `state`, if no other append
    /// came first and the event fits the state. Returns the new state.
    pub fn append(&self, state: &OrderState, dados: DadosEvento) -> Result<OrderState, StoreError> {
        let id = state.pedido.id.as_str();
        let ev = evento(id, state.seq + 1, dados);
        let next = machine::apply_event(Some(state.clone()), &ev)?;
        let entrada = json(&OutboxEntry {
            evento: ev.clone(),
            session_id: next.pedido.session_id.clone(),
            status: next.pedido.status,
        })?;
        let value = json(&ev)?;
        let delivered = matches!(ev.dados, DadosEvento::Entregue);
        let trees = (
            &self.heads,
            &self.events,
            &self.outbox,
            &self.open_steps,
            &self.to_close,
        );
        let r = trees.transaction(|(heads, eventos, outbox, open_steps, to_close)| {
            let head = heads.get(id.as_bytes())?;
            if head.as_deref() != Some(&state.seq.to_be_bytes()[..]) {
                return Err(ConflictableTransactionError::Abort(Abort::Concurrent));
            }
            heads.insert(id.as_bytes(), &next.seq.to_be_bytes())?;
            eventos.insert(event_key(id, next.seq), value.clone())?;
            outbox.insert(&outbox.generate_id()?.to_be_bytes(), entrada.clone())?;
            if next.step.is_some() {
                open_steps.insert(id.as_bytes(), &[])?;
            } else {
                open_steps.remove(id.as_bytes())?;
            }
            if delivered {
                to_close.insert(id.as_bytes(), &[])?;
            }
            Ok(())
        });
        r.map_err(|e| self.abort_error(id, e))?;
        Ok(next)
    }

    /// Ids of the orders `entregue` whose reservation the catalog has not confirmed closed.
    pub fn to_close(&self) -> Result<Vec<String>, StoreError> {
        order_ids(&self.to_close)
    }

    /// The catalog closed order `id`'s reservation (durable with the next flush; if lost, the
    /// idempotent call is made again).
    pub fn mark_closed(&self, id: &str) -> Result<(), StoreError> {
        self.to_close.remove(id.as_bytes())?;
        Ok(())
    }

    /// Ids of the orders with an open saga step.
    pub fn open_steps(&self) -> Result<Vec<String>, StoreError> {
        order_ids(&self.open_steps)
    }

    /// Up to `n` unpublished events, oldest first, with their outbox keys.
    pub fn outbox_batch(&self, n: usize) -> Result<Vec<(u64, OutboxEntry)>, StoreError> {
        self.outbox
            .iter()
            .take(n)
            .map(|r| {
                let (k, v) = r?;
                Ok((u64_from_be(&k)?, decode(&v)?))
            })
            .collect()
    }

    /// Forgets published events. Not flushed: losing this only republishes them.
    pub fn outbox_remove(&self, keys: &[u64]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for k in keys {
            batch.remove(&k.to_be_bytes());
        }
        self.outbox.apply_batch(batch)?;
        Ok(())
    }

    /// Events waiting in the outbox.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Number of orders.
    pub fn order_count(&self) -> usize {
        self.heads.len()
    }
}

/// The keys of a tree keyed by order id, as ids.
fn order_ids(tree: &sled::Tree) -> Result<Vec<String>, StoreError> {
    tree.iter()
        .keys()
        .map(|k| {
            let k = k?;
            String::from_utf8(k.to_vec()).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use confeitaria_types::orders::ItemPedido;

    fn criado() -> DadosEvento {
        DadosEvento::Criado {
            session_id: "a".repeat(32),
            itens: vec![ItemPedido {
                doce_id: 1,
                nome: "Brigadeiro".into(),
                preco_centavos: 250,
                quantidade: 2,
                subtotal_centavos: 500,
            }],
            total_centavos: 500,
        }
    }

    #[tokio::test]
    async fn events_fold_outbox_and_open_steps_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            let Creation::New(e) = s.create("k1", "{}", "p1", criado()).unwrap() else {
                panic!("not created");
            };
            assert_eq!(s.open_steps().unwrap(), vec!["p1".to_owned()]);
            let e = s.append(&e, DadosEvento::Confirmado).unwrap();
            assert!(s.open_steps().unwrap().is_empty());
            // A stale state loses the compare-and-set.
            let stale = OrderState {
                seq: 1,
                ..e.clone()
            };
            assert!(matches!(
                s.append(&stale, DadosEvento::PagamentoSolicitado),
                Err(StoreError::Concurrent(_) | StoreError::Invalid(_))
            ));
            // An event that does not fit is refused before anything is written.
            assert!(matches!(
                s.append(&e, DadosEvento::Entregue),
                Err(StoreError::Invalid(_))
            ));
            s.flush().await.unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        let e = s.state("p1").unwrap().unwrap();
        assert_eq!(e.pedido.status, StatusPedido::Confirmado);
        assert_eq!(s.events("p1").unwrap().len(), 2);
        let batch = s.outbox_batch(10).unwrap();
        assert_eq!(batch.len(), 2);
        assert!(batch[0].0 < batch[1].0);
        assert_eq!(batch[1].1.status, StatusPedido::Confirmado);
        s.outbox_remove(&[batch[0].0]).unwrap();
        assert_eq!(s.outbox_len(), 1);
        assert!(s.state("nope").unwrap().is_none());
    }

    #[tokio::test]
    async fn a_taken_key_returns_its_order_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert!(matches!(
            s.create("k", "body-a", "p1", criado()).unwrap(),
            Creation::New(_)
        ));
        match s.create("k", "body-b", "p2", criado()).unwrap() {
            Creation::Existing(c) => {
                assert_eq!(c.pedido_id, "p1");
                assert_eq!(c.body, "body-a");
            }
            Creation::New(_) => panic!("key reused"),
        }
        assert!(s.state("p2").unwrap().is_none());
        assert_eq!(s.order_count(), 1);
        assert_eq!(s.outbox_len(), 1);
    }
}
