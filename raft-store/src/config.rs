//! The Raft type configuration: what a log entry carries, what applying returns, how nodes
//! are addressed, and which async runtime drives openraft.

use std::io::Cursor;

use confeitaria_types::NodeAddr;

use crate::command::{Command, CommandResult};
use crate::runtime::SeededRuntime;

/// Node ids are small integers from `cluster.toml`.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The catalog's Raft types.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = NodeId,
        Node = NodeAddr,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = SeededRuntime,
);

/// A stored snapshot: its metadata and the serialized [`crate::CatalogState`].
pub type StoredSnapshot = (openraft::SnapshotMeta<NodeId, NodeAddr>, Vec<u8>);

/// The storage error type openraft expects.
pub type StorageError = openraft::StorageError<NodeId>;
