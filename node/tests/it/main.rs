//! catalog-node integration tests: in-process clusters on port 0 and real processes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod api;
mod cluster;
mod helpers;
mod membership;
mod observability;
mod process;
mod retention;
mod statefulset;
