//! Integration tests of the gateway: one binary, one harness.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod failover;
mod fakes;
mod harness;
mod learners;
mod passthrough;
mod resilience;
