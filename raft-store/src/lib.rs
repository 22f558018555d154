//! openraft storage for the catalog, on sled.
//!
//! - [`config`]: the Raft type configuration shared by every node ([`TypeConfig`]);
//! - [`command`]: the catalog commands replicated through the log and their results;
//! - [`catalog`]: the catalog state and the deterministic `apply` of a command;
//! - [`log_store`]: the Raft log, vote and committed index in sled, flushed before acknowledging;
//! - [`state_machine`]: the catalog state persisted in sled, snapshots built and installed;
//! - [`runtime`]: the async runtime whose randomness can be seeded (for simulations).

// openraft's `StorageError` is large and its traits require it as the error type.
#![allow(clippy::result_large_err)]

pub mod catalog;
pub mod command;
pub mod config;
pub mod log_store;
pub mod runtime;
pub mod state_machine;

pub use catalog::CatalogState;
pub use command::{Command, CommandError, CommandOutput, CommandResult};
pub use config::{NodeId, TypeConfig};
pub use log_store::LogStore;
pub use state_machine::StateMachineStore;

use std::path::Path;

/// Errors opening the store.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// sled could not open or read the database.
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value could not be decoded.
    #[error("corrupt stored value: {0}")]
    Decode(#[from] serde_json::Error),
}

/// Opens (or creates) the node's sled database in `dir` and returns its log store and state
/// machine. Both share one database: one file set, one flush.
pub fn open(dir: &Path) -> Result<(LogStore, StateMachineStore), OpenError> {
    // sled's page cache defaults to 1 GiB; the catalog is small, and a node must stay well
    // under 64 MiB resident.
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(16 * 1024 * 1024)
        .open()?;
    let log = LogStore::open(&db)?;
    let sm = StateMachineStore::open(&db)?;
    Ok((log, sm))
}
