//! The catalog state machine: an in-memory [`CatalogState`] that serves reads, mirrored into a
//! sled tree key by key as entries apply, plus the last snapshot.
//!
//! Applied state is written atomically with `last_applied` (one sled batch) but not flushed:
//! the flushed log is the source of durability, and entries after the persisted
//! `last_applied` are applied again at start-up. Snapshots are flushed before they are
//! reported, because the log is purged up to them.

use std::io::Cursor;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, Entry, EntryPayload, LogId, RaftSnapshotBuilder, Snapshot, SnapshotMeta,
    StorageIOError, StoredMembership,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use confeitaria_types::NodeAddr;

use crate::catalog::{CatalogState, Changed};
use crate::command::{CommandOutput, CommandResult};
use crate::config::{NodeId, StorageError, TypeConfig};
use crate::OpenError;

const LAST_APPLIED: &[u8] = b"m/last_applied";
const MEMBERSHIP: &[u8] = b"m/membership";
const CATALOG_META: &[u8] = b"m/catalog";
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
    snapshot_seq: u64,
}

/// The state machine store. Cheap to clone: clones share state.
#[derive(Debug, Clone)]
pub struct StateMachineStore {
    db: sled::Db,
    tree: sled::Tree,
    // A std lock: held only for in-memory reads and applies, never across an `.await`.
    state: Arc<RwLock<SmState>>,
}

fn sm_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_state_machine(AnyError::new(&e)).into()
}

fn snap_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_snapshot(None, AnyError::new(&e)).into()
}

fn key_of(c: &Changed) -> Vec<u8> {
    match c {
        Changed::Categoria(s) => [b"c/".as_slice(), s.as_bytes()].concat(),
        Changed::Doce(id) => [b"d/".as_slice(), &id.to_be_bytes()].concat(),
        Changed::Reserva(r) => [b"r/".as_slice(), r.as_bytes()].concat(),
        Changed::Meta => CATALOG_META.to_vec(),
    }
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct CatalogMeta {
    last_id: u64,
    seeded: bool,
}

fn value_of(cat: &CatalogState, c: &Changed) -> Result<Option<Vec<u8>>, serde_json::Error> {
    fn enc<T: Serialize>(v: Option<&T>) -> Result<Option<Vec<u8>>, serde_json::Error> {
        v.map(serde_json::to_vec).transpose()
    }
    match c {
        Changed::Categoria(s) => enc(cat.categorias.get(s)),
        Changed::Doce(id) => enc(cat.doces.get(id)),
        Changed::Reserva(r) => enc(cat.reservas.get(r)),
        Changed::Meta => enc(Some(&CatalogMeta {
            last_id: cat.last_id,
            seeded: cat.seeded,
        })),
    }
}

fn load_prefix<T: DeserializeOwned>(tree: &sled::Tree, prefix: &[u8]) -> Result<Vec<T>, OpenError> {
    tree.scan_prefix(prefix)
        .map(|kv| Ok(serde_json::from_slice(&kv?.1)?))
        .collect()
}

fn get<T: DeserializeOwned>(tree: &sled::Tree, key: &[u8]) -> Result<Option<T>, OpenError> {
    Ok(match tree.get(key)? {
        Some(v) => Some(serde_json::from_slice(&v)?),
        None => None,
    })
}

impl StateMachineStore {
    pub(crate) fn open(db: &sled::Db) -> Result<Self, OpenError> {
        let tree = db.open_tree("state_machine")?;
        let mut catalog = CatalogState::default();
        for c in load_prefix::<confeitaria_types::Categoria>(&tree, b"c/")? {
            catalog.categorias.insert(c.slug.clone(), c);
        }
        for d in load_prefix::<crate::catalog::DoceRecord>(&tree, b"d/")? {
            catalog.doces.insert(d.doce.id, d);
        }
        for r in load_prefix::<confeitaria_types::Reserva>(&tree, b"r/")? {
            catalog.reservas.insert(r.id.clone(), r);
        }
        let meta: CatalogMeta = get(&tree, CATALOG_META)?.unwrap_or_default();
        catalog.last_id = meta.last_id;
        catalog.seeded = meta.seeded;
        let state = SmState {
            catalog,
            last_applied: get(&tree, LAST_APPLIED)?,
            membership: get(&tree, MEMBERSHIP)?.unwrap_or_default(),
            snapshot_seq: 0,
        };
        Ok(Self {
            db: db.clone(),
            tree,
            state: Arc::new(RwLock::new(state)),
        })
    }

    /// Read access to the applied state. Keep the guard short: it blocks applies.
    pub fn read(&self) -> RwLockReadGuard<'_, SmState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, SmState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn persist_all(&self, st: &SmState) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for kv in self.tree.iter() {
            let (k, _) = kv.map_err(sm_err)?;
            if !k.starts_with(b"s/") {
                batch.remove(k);
            }
        }
        let cat = &st.catalog;
        let keys = cat
            .categorias
            .keys()
            .map(|s| Changed::Categoria(s.clone()))
            .chain(cat.doces.keys().map(|&id| Changed::Doce(id)))
            .chain(cat.reservas.keys().map(|r| Changed::Reserva(r.clone())))
            .chain(std::iter::once(Changed::Meta));
        for c in keys {
            if let Some(v) = value_of(cat, &c).map_err(sm_err)? {
                batch.insert(key_of(&c), v);
            }
        }
        batch.insert(
            LAST_APPLIED,
            serde_json::to_vec(&st.last_applied).map_err(sm_err)?,
        );
        batch.insert(
            MEMBERSHIP,
            serde_json::to_vec(&st.membership).map_err(sm_err)?,
        );
        self.tree.apply_batch(batch).map_err(sm_err)
    }

    fn save_snapshot(
        &self,
        meta: &SnapshotMeta<NodeId, NodeAddr>,
        data: &[u8],
    ) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        batch.insert(SNAP_META, serde_json::to_vec(meta).map_err(snap_err)?);
        batch.insert(SNAP_DATA, data);
        self.tree.apply_batch(batch).map_err(snap_err)?;
        self.db.flush().map_err(snap_err)?;
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (meta, data) = {
            let mut st = self.write();
            st.snapshot_seq += 1;
            let data = serde_json::to_vec(&st.catalog).map_err(snap_err)?;
            let snapshot_id = match st.last_applied {
                Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, st.snapshot_seq),
                None => format!("none-{}", st.snapshot_seq),
            };
            let meta = SnapshotMeta {
                last_log_id: st.last_applied,
                last_membership: st.membership.clone(),
                snapshot_id,
            };
            (meta, data)
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
        let mut results = Vec::new();
        let mut batch = sled::Batch::default();
        let mut st = self.write();
        for entry in entries {
            st.last_applied = Some(entry.log_id);
            let result = match entry.payload {
                EntryPayload::Blank => Ok(CommandOutput::Empty),
                EntryPayload::Normal(cmd) => {
                    let (result, changed) = st.catalog.apply(&cmd);
                    for c in &changed {
                        match value_of(&st.catalog, c).map_err(sm_err)? {
                            Some(v) => batch.insert(key_of(c), v),
                            None => batch.remove(key_of(c)),
                        }
                    }
                    result
                }
                EntryPayload::Membership(m) => {
                    st.membership = StoredMembership::new(Some(entry.log_id), m);
                    batch.insert(
                        MEMBERSHIP,
                        serde_json::to_vec(&st.membership).map_err(sm_err)?,
                    );
                    Ok(CommandOutput::Empty)
                }
            };
            results.push(result);
        }
        batch.insert(
            LAST_APPLIED,
            serde_json::to_vec(&st.last_applied).map_err(sm_err)?,
        );
        drop(st);
        self.tree.apply_batch(batch).map_err(sm_err)?;
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
        meta: &SnapshotMeta<NodeId, NodeAddr>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let catalog: CatalogState = serde_json::from_slice(&data).map_err(snap_err)?;
        {
            let mut st = self.write();
            st.catalog = catalog;
            st.last_applied = meta.last_log_id;
            st.membership = meta.last_membership.clone();
            self.persist_all(&st)?;
        }
        self.save_snapshot(meta, &data)
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let meta: Option<SnapshotMeta<NodeId, NodeAddr>> =
            match self.tree.get(SNAP_META).map_err(snap_err)? {
                Some(v) => Some(serde_json::from_slice(&v).map_err(snap_err)?),
                None => None,
            };
        let (Some(meta), Some(data)) = (meta, self.tree.get(SNAP_DATA).map_err(snap_err)?) else {
            return Ok(None);
        };
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data.to_vec())),
        }))
    }
}
