//! Applying one order event to the carts exactly once in effect: the rule both delivery paths
//! share — the Redis stream consumer ([`crate::events`]) and orders' direct delivery
//! ([`crate::internal`]).
//!
//! Only a confirmation (`tipo == "confirmado"`) does anything: it deletes its session's cart.
//! Handled confirmations are remembered by event id (`{pedido_id}:{seq}`) in a [`Vistos`] —
//! in Redis when the cart has one ([`VistosRedis`], the keys the stream consumer always
//! used), else in process memory ([`VistosMemoria`], bounded) — so a repeat delivery cannot
//! empty a new cart the shopper started under the same session.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use crate::events::{Resultado, DEDUPE_PREFIX};
use crate::redis_link::RedisLink;
use crate::session::SessionId;
use crate::store::{CartStore, StoreError};

/// Most event ids [`VistosMemoria`] keeps by default (about 5 MB).
pub const MEMORIA_MAX: usize = 100_000;

/// Remembers which confirmations were handled.
pub trait Vistos: Send + Sync + 'static {
    /// Whether `event_id` was handled (and not yet forgotten).
    fn visto<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Records `event_id` as handled.
    fn lembrar<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Handled ids as Redis keys `{DEDUPE_PREFIX}{event_id}` with a TTL.
pub struct VistosRedis {
    link: Arc<RedisLink>,
    ttl: Duration,
}

impl VistosRedis {
    /// Ids kept through `link` for `ttl`.
    pub fn new(link: Arc<RedisLink>, ttl: Duration) -> Self {
        Self { link, ttl }
    }
}

impl Vistos for VistosRedis {
    fn visto<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let chave = format!("{DEDUPE_PREFIX}{event_id}");
            self.link
                .bounded("EXISTS", async {
                    let mut c = self.link.conn().await?;
                    redis::cmd("EXISTS").arg(&chave).query_async(&mut c).await
                })
                .await
        })
    }

    fn lembrar<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let chave = format!("{DEDUPE_PREFIX}{event_id}");
            let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
            self.link
                .bounded("SET", async {
                    let mut c = self.link.conn().await?;
                    redis::cmd("SET")
                        .arg(&chave)
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
pub struct VistosMemoria {
    // A std mutex: held for a map look-up or insert, never across an `.await`.
    inner: Mutex<Memoria>,
    ttl: Duration,
    max: usize,
}

#[derive(Default)]
struct Memoria {
    ids: HashMap<String, Instant>,
    ordem: VecDeque<String>,
}

impl VistosMemoria {
    /// At most `max` ids, each kept for `ttl`.
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self {
            inner: Mutex::default(),
            ttl,
            max: max.max(1),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Memoria) -> T) -> T {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut m)
    }
}

impl Vistos for VistosMemoria {
    fn visto<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let now = Instant::now();
        let v = self.with(|m| m.ids.get(event_id).is_some_and(|t| now < *t));
        Box::pin(async move { Ok(v) })
    }

    fn lembrar<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let now = Instant::now();
        self.with(|m| {
            if m.ids.insert(event_id.to_owned(), now + self.ttl).is_none() {
                m.ordem.push_back(event_id.to_owned());
            }
            // Oldest first out: by count, and by age from the front.
            while let Some(velho) = m.ordem.front() {
                let vencido = m.ids.get(velho).is_none_or(|t| *t <= now);
                if m.ordem.len() <= self.max && !vencido {
                    break;
                }
                if let Some(velho) = m.ordem.pop_front() {
                    m.ids.remove(&velho);
                }
            }
        });
        Box::pin(async { Ok(()) })
    }
}

/// Applies one order event: a confirmation not yet handled deletes the cart of `session`
/// and is remembered; anything else does nothing. Errs only when the store or `vistos`
/// failed (the event is then to be delivered again).
pub async fn aplicar(
    store: &dyn CartStore,
    vistos: &dyn Vistos,
    tipo: &str,
    event_id: &str,
    session: &SessionId,
) -> Result<Resultado, StoreError> {
    if tipo != "confirmado" {
        return Ok(Resultado::Ignorado);
    }
    if vistos.visto(event_id).await? {
        tracing::debug!(%event_id, "order confirmation already handled");
        return Ok(Resultado::Duplicado);
    }
    // Delete, then remember: a crash in between handles the event again (the cart is
    // deleted twice), while the other order could lose the deletion altogether.
    let existia = store.delete(session).await?;
    vistos.lembrar(event_id).await?;
    if existia {
        tracing::info!(%event_id, ?session, "order confirmed: cart emptied");
        Ok(Resultado::Esvaziado)
    } else {
        Ok(Resultado::SemCarrinho)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::{Adicao, MemoryStore, DEFAULT_TTL};

    #[tokio::test]
    async fn a_confirmation_empties_once_and_other_events_do_nothing() {
        let store = MemoryStore::new(DEFAULT_TTL);
        let vistos = VistosMemoria::new(DEFAULT_TTL, 10);
        let s = SessionId::new_random();
        let um = Adicao {
            doce_id: 1,
            quantidade: 1,
            estoque: 10,
        };
        store.add(&s, um).await.unwrap().unwrap();
        let r = aplicar(&store, &vistos, "criado", "p:1", &s).await.unwrap();
        assert_eq!(r, Resultado::Ignorado);
        let r = aplicar(&store, &vistos, "confirmado", "p:2", &s).await;
        assert_eq!(r.unwrap(), Resultado::Esvaziado);
        // The shopper starts again under the same session; the repeat leaves it alone.
        store.add(&s, um).await.unwrap().unwrap();
        let r = aplicar(&store, &vistos, "confirmado", "p:2", &s).await;
        assert_eq!(r.unwrap(), Resultado::Duplicado);
        assert!(store.get(&s).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn memory_keeps_the_newest_ids_up_to_its_bound() {
        let v = VistosMemoria::new(Duration::from_secs(60), 2);
        for id in ["a", "b", "c"] {
            v.lembrar(id).await.unwrap();
        }
        assert!(!v.visto("a").await.unwrap());
        assert!(v.visto("b").await.unwrap() && v.visto("c").await.unwrap());
        let curto = VistosMemoria::new(Duration::ZERO, 10);
        curto.lembrar("x").await.unwrap();
        assert!(!curto.visto("x").await.unwrap());
    }
}
