//! raft-store integration tests: openraft's storage conformance suite and crash recovery.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod recovery;
mod suite;
