//! openraft's own storage conformance suite, run against sled in a temporary directory.

use openraft::testing::{StoreBuilder, Suite};
use raft_store::config::StorageError;
use raft_store::{LogStore, StateMachineStore, TypeConfig};
use tempfile::TempDir;

struct SledBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for SledBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError> {
        let dir = TempDir::new().unwrap();
        let (log, sm) = raft_store::open(dir.path()).unwrap();
        Ok((dir, log, sm))
    }
}

#[test]
fn sled_store_passes_the_openraft_storage_suite() {
    Suite::test_all(SledBuilder).unwrap();
}
