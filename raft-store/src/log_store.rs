//! The Raft log, vote and committed index, in sled trees of the node's database.
//!
//! Values are encoded by [`codec`]. Log keys are big-endian indexes so sled's order is the log's order. Every append, vote and
//! truncation is flushed before it is acknowledged. The flush is synchronous (not
//! `flush_async`, see sled issue 1308). openraft 0.9 appends each proposal on its own, so
//! concurrent writes share a flush by being proposed as one batch entry (`node`'s write queue).

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, LogState, RaftLogReader, StorageIOError, Vote,
};
use prometheus_client::metrics::histogram::Histogram;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec;
use crate::config::{NodeId, StorageError, TypeConfig};
use crate::Command;
use crate::OpenError;

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

/// The log store. Cheap to clone: clones share the same sled trees and counters.
#[derive(Debug, Clone)]
pub struct LogStore {
    db: sled::Db,
    log: sled::Tree,
    meta: sled::Tree,
    stats: Arc<AppendStats>,
    /// Seconds per append (write and flush), if someone watches.
    append_seconds: Option<Histogram>,
}

/// How well appends are batched: entries per flushed append.
#[derive(Debug, Default)]
pub struct AppendStats {
    /// Flushed appends.
    pub appends: AtomicU64,
    /// Entries written by those appends.
    pub entries: AtomicU64,
    /// Catalog commands in those entries (a batch entry counts each of its commands).
    pub commands: AtomicU64,
}

fn io_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_logs(AnyError::new(&e)).into()
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_logs(AnyError::new(&e)).into()
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StorageError> {
    codec::encode(v).map_err(io_err)
}

fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, StorageError> {
    codec::decode(b).map_err(read_err)
}

impl LogStore {
    pub(crate) fn open(db: &sled::Db) -> Result<Self, OpenError> {
        Ok(Self {
            db: db.clone(),
            log: db.open_tree("raft_log")?,
            meta: db.open_tree("raft_meta")?,
            stats: Arc::default(),
            append_seconds: None,
        })
    }

    /// Observes the time of every append (the batch written and the database flushed) in
    /// `h`, from now on and in the clones made after this call.
    pub fn time_appends(&mut self, h: Histogram) {
        self.append_seconds = Some(h);
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        match self.meta.get(key).map_err(read_err)? {
            Some(v) => decode(&v).map(Some),
            None => Ok(None),
        }
    }

    fn put_meta<T: Serialize>(&self, key: &[u8], v: &T) -> Result<(), StorageError> {
        self.meta.insert(key, encode(v)?).map_err(io_err)?;
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.db.flush().map_err(io_err)?;
        Ok(())
    }

    /// Append and entry counters since the store was opened.
    pub fn stats(&self) -> &AppendStats {
        &self.stats
    }

    /// The last committed index this node persisted, if any.
    pub fn committed_index(&self) -> Option<u64> {
        self.get_meta::<Option<LogId<NodeId>>>(COMMITTED)
            .ok()
            .flatten()
            .flatten()
            .map(|l| l.index)
    }

    /// Whether this node has ever voted or logged anything: an initialized store must never
    /// be initialized again.
    pub fn is_pristine(&self) -> Result<bool, StorageError> {
        Ok(self.log.is_empty()
            && self.get_meta::<Vote<NodeId>>(VOTE)?.is_none()
            && self.get_meta::<LogId<NodeId>>(LAST_PURGED)?.is_none())
    }
}

fn bound_key(b: Bound<&u64>) -> Bound<[u8; 8]> {
    match b {
        Bound::Included(i) => Bound::Included(i.to_be_bytes()),
        Bound::Excluded(i) => Bound::Excluded(i.to_be_bytes()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        let range = (bound_key(range.start_bound()), bound_key(range.end_bound()));
        self.log
            .range(range)
            .map(|kv| kv.map_err(read_err).and_then(|(_, v)| decode(&v)))
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId<NodeId>> = self.get_meta(LAST_PURGED)?;
        let last_log_id = match self.log.last().map_err(read_err)? {
            Some((_, v)) => Some(decode::<Entry<TypeConfig>>(&v)?.log_id),
            None => last_purged_log_id,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.put_meta(VOTE, vote)?;
        self.flush()
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.get_meta(VOTE)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError> {
        // Not flushed: a committed index lost in a crash is learned again from the leader.
        self.put_meta(COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError> {
        Ok(self.get_meta::<Option<LogId<NodeId>>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut batch = sled::Batch::default();
        let (mut n, mut commands) = (0, 0);
        for entry in entries {
            commands += match &entry.payload {
                EntryPayload::Normal(Command::Batch(cmds)) => cmds.len() as u64,
                EntryPayload::Normal(_) => 1,
                _ => 0,
            };
            batch.insert(&entry.log_id.index.to_be_bytes(), encode(&entry)?);
            n += 1;
        }
        let started = Instant::now();
        let result = self
            .log
            .apply_batch(batch)
            .and_then(|()| self.db.flush().map(|_| ()));
        if let Some(h) = &self.append_seconds {
            h.observe(started.elapsed().as_secs_f64());
        }
        match result {
            Ok(()) => {
                self.stats.appends.fetch_add(1, Ordering::Relaxed);
                self.stats.entries.fetch_add(n, Ordering::Relaxed);
                self.stats.commands.fetch_add(commands, Ordering::Relaxed);
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(io_err(e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for kv in self.log.range(log_id.index.to_be_bytes()..) {
            batch.remove(kv.map_err(read_err)?.0);
        }
        self.log.apply_batch(batch).map_err(io_err)?;
        self.flush()
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError> {
        // Record the purge point first, so a crash midway never leaves a gap unaccounted for.
        self.put_meta(LAST_PURGED, &log_id)?;
        self.flush()?;
        let mut batch = sled::Batch::default();
        for kv in self.log.range(..=log_id.index.to_be_bytes()) {
            batch.remove(kv.map_err(read_err)?.0);
        }
        self.log.apply_batch(batch).map_err(io_err)?;
        Ok(())
    }
}
