//! The cart's integration tests, one binary. Every cart behaviour runs against both stores
//! (`memory::…` and `redis::…` variants, the latter on a real `redis-server` per test).
//!
//! - [`harness`]: `RedisServer` (a real server on a free port), `TestApp`, a table catalog;
//! - [`cart_api`]: endpoints, errors, caps, concurrency, expiry — on both stores;
//! - [`catalog_cluster`]: stock, names and prices against a real in-process catalog cluster;
//! - [`events`]: the consumer of `pedidos:eventos` empties confirmed orders' carts, once;
//! - [`observability`]: latency histograms on `/metrics`, `X-Request-Id`;
//! - [`redis_failure`]: Redis stopped, hung and restarted under the running service;
//! - [`serving`]: the service over a real socket, and the `cart` binary itself;
//! - [`settings`]: the binary's settings from flags, variables and the cluster file.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cart_api;
mod catalog_cluster;
mod events;
mod harness;
mod observability;
mod redis_failure;
mod serving;
mod settings;
