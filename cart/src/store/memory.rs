//! The embedded store: carts in a map inside the process, for running without Redis.
//!
//! Same rules as Redis: caps and stock checked under the same lock that writes, TTL set on
//! every write and honoured on every read. Expired carts are dropped when touched and swept
//! at most once a second on writes, so the map does not grow without bound.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use confeitaria_types::cart::{MAX_LINHAS, QUANTIDADE_MAXIMA};
use futures::future::{self, BoxFuture, FutureExt};

use super::{AddRefusal, Addition, CartSnapshot, CartStore, Line, Removal, StoreError};
use crate::session::SessionId;

struct Entry {
    lines: BTreeMap<u64, u64>,
    expira: Instant,
}

impl Entry {
    fn snapshot(&self, now: Instant) -> CartSnapshot {
        CartSnapshot {
            lines: self
                .lines
                .iter()
                .map(|(&doce_id, &quantidade)| Line {
                    doce_id,
                    quantidade,
                })
                .collect(),
            ttl_left: self.expira.saturating_duration_since(now),
        }
    }
}

struct Inner {
    carts: HashMap<SessionId, Entry>,
    last_sweep: Instant,
}

/// Carts in process memory; lost on restart.
pub struct MemoryStore {
    ttl: Duration,
    // A std mutex: every critical section is a few map operations and none awaits, so a
    // blocking lock is cheaper than an async one and cannot be held across an `.await`.
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store whose carts live `ttl` after their last write.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            inner: Mutex::new(Inner {
                carts: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    /// Runs `f` on the map with expired carts removed from view.
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<SessionId, Entry>, Instant) -> T) -> T {
        // A panic while holding the lock cannot leave a cart half-written (each step below is
        // a single map operation), so a poisoned lock is safe to reuse.
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if now.duration_since(inner.last_sweep) >= Duration::from_secs(1) {
            inner.carts.retain(|_, e| e.expira > now);
            inner.last_sweep = now;
        }
        f(&mut inner.carts, now)
    }
}

/// Removes the cart if it has expired; then whether it is still there.
fn live(carts: &mut HashMap<SessionId, Entry>, session: &SessionId, now: Instant) -> bool {
    match carts.get(session) {
        Some(e) if e.expira <= now => {
            carts.remove(session);
            false
        }
        Some(_) => true,
        None => false,
    }
}

impl CartStore for MemoryStore {
    fn add<'a>(
        &'a self,
        session: &'a SessionId,
        a: Addition,
    ) -> BoxFuture<'a, Result<Result<CartSnapshot, AddRefusal>, StoreError>> {
        let result = self.with(|carts, now| {
            let existed = live(carts, session, now);
            let entry = carts.entry(session.clone()).or_insert_with(|| Entry {
                lines: BTreeMap::new(),
                expira: now + self.ttl,
            });
            let current = entry.lines.get(&a.doce_id).copied().unwrap_or(0);
            let refused = if current == 0 && entry.lines.len() >= MAX_LINHAS {
                Some(AddRefusal::CartFull)
            } else if current.saturating_add(a.quantidade) > QUANTIDADE_MAXIMA {
                Some(AddRefusal::LineLimit {
                    no_carrinho: current,
                })
            } else if current.saturating_add(a.quantidade) > a.estoque {
                Some(AddRefusal::InsufficientStock {
                    no_carrinho: current,
                })
            } else {
                None
            };
            if let Some(r) = refused {
                // An add refused on a cart that did not exist must not leave an empty one.
                if !existed {
                    carts.remove(session);
                }
                return Err(r);
            }
            entry.lines.insert(a.doce_id, current + a.quantidade);
            entry.expira = now + self.ttl;
            Ok(entry.snapshot(now))
        });
        future::ready(Ok(result)).boxed()
    }

    fn remove<'a>(
        &'a self,
        session: &'a SessionId,
        doce_id: u64,
    ) -> BoxFuture<'a, Result<Removal, StoreError>> {
        let result = self.with(|carts, now| {
            if !live(carts, session, now) {
                return Removal::NoCart;
            }
            let Some(entry) = carts.get_mut(session) else {
                return Removal::NoCart;
            };
            if entry.lines.remove(&doce_id).is_none() {
                return Removal::NoItem;
            }
            entry.expira = now + self.ttl;
            Removal::Removed(entry.snapshot(now))
        });
        future::ready(Ok(result)).boxed()
    }

    fn get<'a>(
        &'a self,
        session: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<CartSnapshot>, StoreError>> {
        let result = self.with(|carts, now| {
            if !live(carts, session, now) {
                return None;
            }
            carts.get(session).map(|e| e.snapshot(now))
        });
        future::ready(Ok(result)).boxed()
    }

    fn delete<'a>(&'a self, session: &'a SessionId) -> BoxFuture<'a, Result<bool, StoreError>> {
        let result =
            self.with(|carts, now| live(carts, session, now) && carts.remove(session).is_some());
        future::ready(Ok(result)).boxed()
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        future::ready(Ok(())).boxed()
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
