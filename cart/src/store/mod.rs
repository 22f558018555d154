//! Where carts live, behind one trait: [`RedisStore`] in production, [`MemoryStore`] when no
//! Redis URL is configured. Both keep the same rules, checked inside one atomic step:
//!
//! - a line holds `1..=99` units and a cart at most 50 lines;
//! - an add never takes a line above the stock the catalog reported for it;
//! - every write (add, remove) sets the cart's time-to-live afresh; reads leave it alone;
//! - a cart that outlives its TTL is gone, as if deleted.

mod memory;
mod redis_store;

pub use self::memory::MemoryStore;
pub use self::redis_store::{RedisStore, RedisStoreConfig};

use std::time::Duration;

use futures::future::BoxFuture;

use crate::session::SessionId;

/// Default cart lifetime after its last write: 7 days.
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// One line as stored: only the product and the units; names and prices come from the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// Product id.
    pub doce_id: u64,
    /// Units, `1..=99`.
    pub quantidade: u64,
}

/// A cart as read in one atomic step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartSnapshot {
    /// Lines ordered by `doce_id`.
    pub lines: Vec<Line>,
    /// Time left before the cart expires.
    pub ttl_left: Duration,
}

/// An add to perform: `quantidade` units of `doce_id`, of which the catalog has `estoque`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addition {
    /// Product id.
    pub doce_id: u64,
    /// Units to add (the caller has checked `1..=99`).
    pub quantidade: u64,
    /// Units the catalog reported available; the line may not exceed it.
    pub estoque: u64,
}

/// Why an add was refused; the cart is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddRefusal {
    /// The line would exceed 99 units; `no_carrinho` units are already there.
    LineLimit {
        /// Units of the product already in the cart.
        no_carrinho: u64,
    },
    /// The product is not in the cart and the cart already has 50 lines.
    CartFull,
    /// The line would exceed the stock; `no_carrinho` units are already there.
    InsufficientStock {
        /// Units of the product already in the cart.
        no_carrinho: u64,
    },
}

/// The result of a remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// The line is gone; the cart after the remove (possibly with no lines).
    Removed(CartSnapshot),
    /// There is no cart under this session.
    NoCart,
    /// The cart exists but has no such line; its TTL is not refreshed.
    NoItem,
}

/// A store failure (never a business refusal).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The backend did not answer within its deadline or refused the connection.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend answered something this code did not write.
    #[error("unexpected reply from the store: {0}")]
    Corrupt(String),
}

/// A cart store. Every method is one atomic step on one cart.
///
/// Methods return boxed futures so the store can sit behind `Arc<dyn CartStore>`.
pub trait CartStore: Send + Sync + 'static {
    /// Adds units to a line (creating the cart and the line as needed) and refreshes the TTL,
    /// or refuses without changing anything.
    fn add<'a>(
        &'a self,
        session: &'a SessionId,
        addition: Addition,
    ) -> BoxFuture<'a, Result<Result<CartSnapshot, AddRefusal>, StoreError>>;

    /// Removes a whole line and refreshes the TTL.
    fn remove<'a>(
        &'a self,
        session: &'a SessionId,
        doce_id: u64,
    ) -> BoxFuture<'a, Result<Removal, StoreError>>;

    /// Reads a cart; `None` if there is none. Does not touch the TTL.
    fn get<'a>(
        &'a self,
        session: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<CartSnapshot>, StoreError>>;

    /// Deletes a cart; `true` if there was one.
    fn delete<'a>(&'a self, session: &'a SessionId) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Whether the store can serve right now (`/ready`).
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// A short name for logs and `/ready`: `redis` or `memory`.
    fn kind(&self) -> &'static str;
}
