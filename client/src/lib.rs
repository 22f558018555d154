//! Client side of the catalog.
//!
//! - [`transport`]: HTTP/1 requests with a deadline over any hyper connector (plain TCP in
//!   production, simulated sockets under turmoil);
//! - [`config`]: `cluster.toml`, parsed once by every binary;
//! - [`catalog`]: [`CatalogClient`], typed calls to the catalog's REST API across nodes.

pub mod catalog;
pub mod config;
pub mod transport;

pub use catalog::{CatalogClient, ClientError, Consistency};
pub use transport::{Transport, TransportError};
