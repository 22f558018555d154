//! Integration tests of the orders service: one binary, one harness.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod api;
mod cart_events;
mod crash;
mod delivery;
mod harness;
mod live;
mod observability;
mod outbox;
mod race;
mod settings;
