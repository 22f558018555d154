//! openraft storage for the catalog, on sled.
//!
//! - [`config`]: the Raft type configuration shared by every node ([`TypeConfig`]);
//! - [`codec`]: the bincode encoding of entries, snapshots and RPC bodies, and its version;
//! - [`command`]: the catalog commands replicated through the log and their results;
//! - [`catalog`]: the catalog state and the deterministic `apply` of a command;
//! - [`log_store`]: the Raft log, vote and committed index in sled, flushed before acknowledging;
//! - [`state_machine`]: the catalog state persisted in sled, snapshots built and installed;
//! - [`runtime`]: the async runtime whose randomness can be seeded (for simulations).

// openraft's `StorageError` is large and its traits require it as the error type.
#![allow(clippy::result_large_err)]

pub mod catalog;
pub mod codec;
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

use codec::FORMAT_VERSION;

/// Errors opening the store.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// sled could not open or read the database.
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value could not be decoded.
    #[error("corrupt stored value: {0}")]
    Decode(#[from] codec::DecodeError),
    /// The directory holds data in another storage format than this build's.
    #[error(
        "data directory {} was written in storage format {found} and this build reads \
         format {FORMAT_VERSION} (bincode): delete the directory to start this node fresh \
         (it catches up from the cluster; `confeitaria up --fresh` erases the shop's)",
        .dir.display()
    )]
    Format {
        /// The data directory.
        dir: std::path::PathBuf,
        /// The format it was written in, e.g. `1 (JSON, unversioned)`.
        found: String,
    },
}

const FORMAT_KEY: &[u8] = b"format_version";

/// Records the format in a new database, or refuses one written in another format.
fn check_format(db: &sled::Db, dir: &Path) -> Result<(), OpenError> {
    // An unreadable version counts as 0: another format all the same.
    let found = db.get(FORMAT_KEY)?.map(|v| {
        <[u8; 4]>::try_from(v.as_ref())
            .map(u32::from_le_bytes)
            .unwrap_or(0)
    });
    if found == Some(FORMAT_VERSION) {
        return Ok(());
    }
    let empty = ["raft_log", "raft_meta", "state_machine"]
        .iter()
        .map(|t| db.open_tree(t).map(|t| t.is_empty()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .all(|e| e);
    if found.is_none() && empty {
        db.insert(FORMAT_KEY, &FORMAT_VERSION.to_le_bytes())?;
        db.flush()?;
        return Ok(());
    }
    Err(OpenError::Format {
        dir: dir.to_owned(),
        found: found.map_or_else(|| "1 (JSON, unversioned)".to_owned(), |v| v.to_string()),
    })
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
    check_format(&db, dir)?;
    let log = LogStore::open(&db)?;
    let sm = StateMachineStore::open(&db)?;
    Ok((log, sm))
}
