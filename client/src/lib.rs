//! Client side of the catalog.
//!
//! - [`transport`]: HTTP/1 requests with a deadline over any hyper connector (plain TCP in
//!   production, simulated sockets under turmoil);
//! - [`config`]: `cluster.toml`, parsed once by every binary;
//! - [`catalog`]: [`CatalogClient`]: leader discovery, routing, retries under one deadline;
//! - [`endpoints`]: one typed method per catalog endpoint;
//! - [`breaker`]: the per-node circuit breaker that skips down nodes and probes them back;
//! - [`shutdown`]: the Ctrl-C / SIGTERM signal every binary stops on.

pub mod breaker;
pub mod catalog;
pub mod config;
pub mod endpoints;
pub mod shutdown;
pub mod transport;

pub use breaker::{BreakerPolicy, NodeState};
pub use catalog::{CallPolicy, CatalogClient, ClientError, Consistency, NodeInfo};
pub use transport::{Transport, TransportError};
