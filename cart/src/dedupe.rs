//! Applying one order event to the carts exactly once in effect: the rule both delivery paths
//! share — the Redis stream consumer ([`crate::events`]) and orders' direct delivery
//! ([`crate::internal`]).
//!
//! Only a confirmation (`tipo == "confirmado"`) does anything: it deletes its session's cart.
//! Handled confirmations are remembered by event id (`{pedido_id}:{seq}`) in a [`SeenIds`] —
//! in Redis when the cart has one ([`SeenInRedis`], the keys the stream consumer always
//! used), else in process memory ([`SeenInMemory`], bounded) — so a repeat delivery cannot
//! empty a new cart the shopper started under the same session.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use crate::redis_link::RedisLink;
use crate::session::SessionId;
use crate::store::{CartStore, StoreError};

/// Prefix of the keys that remember handled confirmations: `{prefix}{event_id}`.
pub const DEDUPE_PREFIX: &str = "confeitaria:carrinho-eventos:";

/// What handling one entry came to (the `outcome` label of `cart_order_events_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// A confirmation whose cart existed and was deleted.
    Emptied,
    /// A confirmation whose session had no cart (already emptied, expired, or elsewhere).
    NoCart,
    /// A confirmation already handled: nothing done.
    Duplicate,
    /// Another `tipo`: nothing to do.
    Ignored,
    /// Fields missing or malformed: logged and dropped.
    Invalid,
    /// The entry was trimmed from the stream while pending: nothing left to read.
    Gone,
}

impl EventOutcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Emptied => "emptied",
            EventOutcome::NoCart => "no_cart",
            EventOutcome::Duplicate => "duplicate",
            EventOutcome::Ignored => "ignored",
            EventOutcome::Invalid => "invalid",
            EventOutcome::Gone => "gone",
        }
    }
}

/// Most event ids [`SeenInMemory`] keeps by default (about 5 MB).
pub const MEMORY_MAX: usize = 100_000;

/// Remembers which confirmations were handled.
pub trait SeenIds: Send + Sync + 'static {
    /// Whether `event_id` was handled (and not yet forgotten).
    fn seen_before<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Records `event_id` as handled.
    fn remember<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Handled ids as Redis keys `{DEDUPE_PREFIX}{event_id}` with a TTL.
pub struct SeenInRedis {
    link: Arc<RedisLink>,
    ttl: Duration,
}

impl SeenInRedis {
    /// Ids kept through `link` for `ttl`.
    pub fn new(link: Arc<RedisLink>, ttl: Duration) -> Self {
        Self { link, ttl }
    }
}

impl SeenIds for SeenInRedis {
    fn seen_before<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let dedupe_key = format!("{DEDUPE_PREFIX}{event_id}");
            self.link
                .bounded("EXISTS", async {
                    let mut c = self.link.conn().await?;
                    redis::cmd("EXISTS")
                        .arg(&dedupe_key)
                        .query_async(&mut c)
                        .await
                })
                .await
        })
    }

    fn remember<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let dedupe_key = format!("{DEDUPE_PREFIX}{event_id}");
            let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
            self.link
                .bounded("SET", async {
                    let mut c = self.link.conn().await?;
                    redis::cmd("SET")
                        .arg(&dedupe_key)
                        .arg(1)
                        .arg("PX")
                        .arg(ttl_ms.max(1))
                        .query_async::<()>(&mut c)
                        .await
                })
                .await
        })
    }
}

/// Handled ids in process memory: the newest `max` of those younger than `ttl`. Lost on
/// restart, as the embedded store's carts are.
pub struct SeenInMemory {
    // A std mutex: held for a map look-up or insert, never across an `.await`.
    inner: Mutex<Memory>,
    ttl: Duration,
    max: usize,
}

#[derive(Default)]
struct Memory {
    ids: HashMap<String, Instant>,
    order: VecDeque<String>,
}

impl SeenInMemory {
    /// At most `max` ids, each kept for `ttl`.
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self {
            inner: Mutex::default(),
            ttl,
            max: max.max(1),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Memory) -> T) -> T {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut m)
    }
}

impl SeenIds for SeenInMemory {
    fn seen_before<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let now = Instant::now();
        let v = self.with(|m| m.ids.get(event_id).is_some_and(|t| now < *t));
        Box::pin(async move { Ok(v) })
    }

    fn remember<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let now = Instant::now();
        self.with(|m| {
            if m.ids.insert(event_id.to_owned(), now + self.ttl).is_none() {
                m.order.push_back(event_id.to_owned());
            }
            // Oldest first out: by count, and by age from the front.
            while let Some(oldest) = m.order.front() {
                let expired = m.ids.get(oldest).is_none_or(|t| *t <= now);
                if m.order.len() <= self.max && !expired {
                    break;
                }
                if let Some(oldest) = m.order.pop_front() {
                    m.ids.remove(&oldest);
                }
            }
        });
        Box::pin(async { Ok(()) })
    }
}

/// Applies one order event: a confirmation not yet handled deletes the cart of `session`
/// and is remembered; anything else does nothing. Errs only when the store or `seen`
/// failed (the event is then to be delivered again).
pub async fn apply_event(
    store: &dyn CartStore,
    seen: &dyn SeenIds,
    tipo: &str,
    event_id: &str,
    session: &SessionId,
) -> Result<EventOutcome, StoreError> {
    if tipo != "confirmado" {
        return Ok(EventOutcome::Ignored);
    }
    if seen.seen_before(event_id).await? {
        tracing::debug!(%event_id, "order confirmation already handled");
        return Ok(EventOutcome::Duplicate);
    }
    // Delete, then remember: a crash in between handles the event again (the cart is
    // deleted twice), while the other order could lose the deletion altogether.
    let existed = store.delete(session).await?;
    seen.remember(event_id).await?;
    if existed {
        tracing::info!(%event_id, ?session, "order confirmed: cart emptied");
        Ok(EventOutcome::Emptied)
    } else {
        Ok(EventOutcome::NoCart)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::{Addition, MemoryStore, DEFAULT_TTL};

    #[tokio::test]
    async fn a_confirmation_empties_once_and_other_events_do_nothing() {
        let store = MemoryStore::new(DEFAULT_TTL);
        let seen = SeenInMemory::new(DEFAULT_TTL, 10);
        let s = SessionId::new_random();
        let one = Addition {
            doce_id: 1,
            quantidade: 1,
            estoque: 10,
        };
        store.add(&s, one).await.unwrap().unwrap();
        let r = apply_event(&store, &seen, "criado", "p:1", &s)
            .await
            .unwrap();
        assert_eq!(r, EventOutcome::Ignored);
        let r = apply_event(&store, &seen, "confirmado", "p:2", &s).await;
        assert_eq!(r.unwrap(), EventOutcome::Emptied);
        // The shopper starts again under the same session; the repeat leaves it alone.
        store.add(&s, one).await.unwrap().unwrap();
        let r = apply_event(&store, &seen, "confirmado", "p:2", &s).await;
        assert_eq!(r.unwrap(), EventOutcome::Duplicate);
        assert!(store.get(&s).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn memory_keeps_the_newest_ids_up_to_its_bound() {
        let v = SeenInMemory::new(Duration::from_secs(60), 2);
        for id in ["a", "b", "c"] {
            v.remember(id).await.unwrap();
        }
        assert!(!v.seen_before("a").await.unwrap());
        assert!(v.seen_before("b").await.unwrap() && v.seen_before("c").await.unwrap());
        let short_lived = SeenInMemory::new(Duration::ZERO, 10);
        short_lived.remember("x").await.unwrap();
        assert!(!short_lived.seen_before("x").await.unwrap());
    }
}
