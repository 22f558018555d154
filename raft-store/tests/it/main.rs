//! raft-store integration tests: openraft's storage conformance suite, crash recovery,
//! snapshots built off the state lock and their encoding, the storage format's version.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod format;
mod recovery;
mod snapshot;
mod suite;
