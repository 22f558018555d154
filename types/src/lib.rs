//! Wire types shared by every Confeitaria crate, defined once.
//!
//! - [`cart`]: the shopper's cart (`Carrinho`) and the body that adds to it;
//! - [`catalog`]: categories, sweets, stock counters and reservations (the catalog's JSON);
//! - [`orders`]: orders (`Pedido`), their statuses and events (`EventoPedido`);
//! - [`error`]: the error body every service answers 4xx and 5xx with;
//! - [`cluster`]: node addresses and the `/cluster/status` document;
//! - [`time`]: instants as RFC 3339 text;
//! - [`auth`]: the HS256 JWTs that admin and service calls carry;
//! - [`limits`]: the validation limits, checked by the services and stated by [`schema`];
//! - [`schema`]: the OpenAPI schemas of constrained values, from the validation constants;
//! - [`whole`]: integers written `7` or `7.0`, as JSON Schema's `integer` allows.

pub mod auth;
pub mod cart;
pub mod catalog;
pub mod cluster;
pub mod error;
pub mod limits;
pub mod orders;
pub mod schema;
pub mod time;
pub mod whole;

pub use catalog::*;
pub use cluster::*;
pub use error::{ErrorBody, ErrorDetail};
