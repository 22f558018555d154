//! raft-store integration tests: openraft's storage conformance suite, crash recovery, and
//! snapshots built off the state lock.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod recovery;
mod snapshot;
mod suite;
