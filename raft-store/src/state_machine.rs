//! The catalog state machine: an in-memory [`CatalogState`] that serves reads, made durable
//! by snapshots in sled, encoded by [`codec`].
//!
//! Applying an entry touches no disk: the flushed Raft log is what makes a write durable.
//! After a restart the state is the last snapshot, and openraft applies the committed log
//! entries after it again (the log is purged only up to a snapshot). Snapshots are flushed
//! before they are reported, because the log is purged behind them. Writing every applied
//! change to sled as well doubled sled's work per write for nothing a restart needs.
//!
//! A snapshot never holds the state lock while it encodes or writes: the catalog's maps are
//! persistent, so [`RaftSnapshotBuilder::build_snapshot`] clones the state in O(1) under a
//! read lock and encodes, stores and flushes the clone after releasing it. Installing decodes
//! before taking the lock and drops the replaced state after releasing it. The longest hold
//! is kept for the metrics ([`StateMachineStore::snapshot_lock_longest_micros`]).

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, Entry, EntryPayload, LogId, RaftSnapshotBuilder, Snapshot, SnapshotMeta,
    StorageIOError, StoredMembership,
};
use prometheus_client::metrics::histogram::Histogram;

use confeitaria_types::NodeAddr;

use crate::catalog::CatalogState;
use crate::codec;
use crate::command::{CommandOutput, CommandResult};
use crate::config::{NodeId, StorageError, TypeConfig};
use crate::OpenError;

const SNAP_META: &[u8] = b"s/meta";
const SNAP_DATA: &[u8] = b"s/data";

/// What the state machine holds in memory.
#[derive(Debug, Default)]
pub struct SmState {
    /// The catalog.
    pub catalog: CatalogState,
    /// Last log id applied.
    pub last_applied: Option<LogId<NodeId>>,
    /// Last membership applied.
    pub membership: StoredMembership<NodeId, NodeAddr>,
}

/// The state machine store. Cheap to clone: clones share state.
#[derive(Debug, Clone)]
pub struct StateMachineStore {
    db: sled::Db,
    tree: sled::Tree,
    // A std lock: held only for in-memory reads and applies, never across an `.await`.
    state: Arc<RwLock<SmState>>,
    /// Seconds per applied batch of entries, if someone watches.
    apply_seconds: Option<Histogram>,
    /// Size in bytes of the stored snapshot (0: none), for the metrics.
    snapshot_bytes: Arc<AtomicU64>,
    /// Snapshots built since the store was opened, to make their ids unique.
    snapshot_seq: Arc<AtomicU64>,
    /// Longest time a snapshot (built or installed) held the state lock, microseconds.
    snapshot_lock_longest: Arc<AtomicU64>,
}

fn snap_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_snapshot(None, AnyError::new(&e)).into()
}

type Meta = SnapshotMeta<NodeId, NodeAddr>;

/// The stored snapshot, if any.
fn stored(tree: &sled::Tree) -> Result<Option<(Meta, Vec<u8>)>, OpenError> {
    let (Some(meta), Some(data)) = (tree.get(SNAP_META)?, tree.get(SNAP_DATA)?) else {
        return Ok(None);
    };
    Ok(Some((codec::decode(&meta)?, data.to_vec())))
}

impl StateMachineStore {
    pub(crate) fn open(db: &sled::Db) -> Result<Self, OpenError> {
        let tree = db.open_tree("state_machine")?;
        let snapshot_bytes = Arc::new(AtomicU64::new(0));
        let state = match stored(&tree)? {
            Some((meta, data)) => {
                snapshot_bytes.store(data.len() as u64, Ordering::Relaxed);
                SmState {
                    catalog: codec::decode(&data)?,
                    last_applied: meta.last_log_id,
                    membership: meta.last_membership,
                }
            }
            None => SmState::default(),
        };
        Ok(Self {
            db: db.clone(),
            tree,
            state: Arc::new(RwLock::new(state)),
            apply_seconds: None,
            snapshot_bytes,
            snapshot_seq: Arc::default(),
            snapshot_lock_longest: Arc::default(),
        })
    }

    /// Observes the time of every applied batch of entries in `h`, from now on and in the
    /// clones made after this call.
    pub fn time_applies(&mut self, h: Histogram) {
        self.apply_seconds = Some(h);
    }

    /// Size in bytes of the snapshot this node stores (built here or installed from the
    /// leader); 0 before the first.
    pub fn snapshot_bytes(&self) -> u64 {
        self.snapshot_bytes.load(Ordering::Relaxed)
    }

    /// The longest time, in microseconds, that building or installing a snapshot held the
    /// state lock (and so could delay an apply or a read) since the store was opened.
    pub fn snapshot_lock_longest_micros(&self) -> u64 {
        self.snapshot_lock_longest.load(Ordering::Relaxed)
    }

    fn note_snapshot_lock(&self, held: Duration) {
        let micros = u64::try_from(held.as_micros()).unwrap_or(u64::MAX);
        self.snapshot_lock_longest
            .fetch_max(micros, Ordering::Relaxed);
    }

    /// Read access to the applied state. Keep the guard short: it blocks applies.
    pub fn read(&self) -> RwLockReadGuard<'_, SmState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, SmState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn save_snapshot(&self, meta: &Meta, data: &[u8]) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        batch.insert(SNAP_META, codec::encode(meta).map_err(snap_err)?);
        batch.insert(SNAP_DATA, data);
        self.tree.apply_batch(batch).map_err(snap_err)?;
        self.db.flush().map_err(snap_err)?;
        self.snapshot_bytes
            .store(data.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        // O(1) under the lock: the catalog's persistent maps share their nodes with the clone.
        let (catalog, last_applied, last_membership) = {
            let st = self.read();
            let locked = Instant::now();
            let taken = (st.catalog.clone(), st.last_applied, st.membership.clone());
            drop(st);
            self.note_snapshot_lock(locked.elapsed());
            taken
        };
        let seq = self.snapshot_seq.fetch_add(1, Ordering::Relaxed) + 1;
        let data = codec::encode(&catalog).map_err(snap_err)?;
        drop(catalog);
        let snapshot_id = match last_applied {
            Some(l) => format!("{}-{}-{seq}", l.leader_id.term, l.index),
            None => format!("none-{seq}"),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership,
            snapshot_id,
        };
        // Everything the snapshot covers must be durable before the log is purged behind it.
        self.save_snapshot(&meta, &data)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, NodeAddr>), StorageError> {
        let st = self.read();
        Ok((st.last_applied, st.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let started = Instant::now();
        let mut st = self.write();
        let results: Vec<CommandResult> = entries
            .into_iter()
            .map(|entry| {
                st.last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => Ok(CommandOutput::Empty),
                    EntryPayload::Normal(cmd) => st.catalog.apply(&cmd),
                    EntryPayload::Membership(m) => {
                        st.membership = StoredMembership::new(Some(entry.log_id), m);
                        Ok(CommandOutput::Empty)
                    }
                }
            })
            .collect();
        drop(st);
        if let Some(h) = &self.apply_seconds {
            h.observe(started.elapsed().as_secs_f64());
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let catalog: CatalogState = codec::decode(&data).map_err(snap_err)?;
        // Durable first: a crash after this point restarts from the installed snapshot.
        self.save_snapshot(meta, &data)?;
        let membership = meta.last_membership.clone();
        let replaced = {
            let mut st = self.write();
            let locked = Instant::now();
            st.last_applied = meta.last_log_id;
            st.membership = membership;
            let replaced = std::mem::replace(&mut st.catalog, catalog);
            drop(st);
            self.note_snapshot_lock(locked.elapsed());
            replaced
        };
        // Freeing the replaced state can take a while; never under the lock.
        drop(replaced);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(stored(&self.tree)
            .map_err(snap_err)?
            .map(|(meta, data)| Snapshot {
                meta,
                snapshot: Box::new(Cursor::new(data)),
            }))
    }
}
