//! The Redis store: one hash per cart, changed only by Lua scripts (see `docs/cart.md`).
//!
//! Key layout, one key per session:
//!
//! ```text
//! confeitaria:carrinho:{session_id}   HASH, PEXPIRE = TTL, refreshed by every write
//!     criado_em   unix ms of the first add (keeps an emptied cart alive until it expires)
//!     doce:{id}   units of product {id} in the cart, 1..=99
//! ```
//!
//! Connections go through a [`RedisLink`] (lazy, self-reconnecting, a deadline on every
//! call) kept alive by a background ping, so a dead Redis costs a request at most that long
//! and the store recovers soon after Redis returns, whether or not requests arrive.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use confeitaria_types::cart::{MAX_LINHAS, QUANTIDADE_MAXIMA};
use futures::future::{BoxFuture, FutureExt};
use redis::Script;

use super::{AddRefusal, Addition, CartSnapshot, CartStore, Line, Removal, StoreError};
use crate::redis_link::RedisLink;
use crate::session::SessionId;

/// Prefix of every cart key.
pub const KEY_PREFIX: &str = "confeitaria:carrinho:";
/// Hash field that marks the cart as existing, whatever its lines.
const CREATED_FIELD: &str = "criado_em";
/// Prefix of the hash fields that hold lines.
const LINE_PREFIX: &str = "doce:";
/// Stock figures above this are passed to Lua as this (Lua numbers are doubles, and no line
/// can hold more than 99 units anyway).
const STOCK_CLAMP: u64 = 1 << 40;

/// How to reach Redis and how long carts live.
#[derive(Debug, Clone)]
pub struct RedisStoreConfig {
    /// `redis://host:port/db` (password, if any, inside the URL).
    pub url: String,
    /// Cart lifetime after its last write.
    pub ttl: Duration,
    /// Upper bound on any one Redis call, connection included.
    pub deadline: Duration,
}

struct Inner {
    link: Arc<RedisLink>,
    ttl: Duration,
    add: Script,
    remove: Script,
    get: Script,
}

/// Carts in Redis.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

impl RedisStore {
    /// Checks the URL and starts the keepalive task; does not wait for Redis to be up.
    /// Must be called inside a Tokio runtime.
    pub fn new(config: RedisStoreConfig) -> Result<Self, StoreError> {
        let link = Arc::new(RedisLink::new(
            &config.url,
            config.deadline,
            config.deadline,
        )?);
        link.keep_alive();
        let inner = Arc::new(Inner {
            link,
            ttl: config.ttl,
            add: Script::new(include_str!("add.lua")),
            remove: Script::new(include_str!("remove.lua")),
            get: Script::new(include_str!("get.lua")),
        });
        Ok(Self { inner })
    }
}

impl Inner {
    fn key(session: &SessionId) -> String {
        format!("{KEY_PREFIX}{session}")
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// Turns a flat `HGETALL` reply into lines ordered by product id.
fn lines(fields: Vec<String>) -> Result<Vec<Line>, StoreError> {
    let mut out = Vec::with_capacity(fields.len() / 2);
    let mut it = fields.into_iter();
    while let (Some(field), Some(value)) = (it.next(), it.next()) {
        if field == CREATED_FIELD {
            continue;
        }
        let doce_id = field
            .strip_prefix(LINE_PREFIX)
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("unknown cart field {field:?}")))?;
        let quantidade = value
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("bad quantity {value:?} for {field:?}")))?;
        out.push(Line {
            doce_id,
            quantidade,
        });
    }
    out.sort_by_key(|l| l.doce_id);
    Ok(out)
}

fn snapshot(
    ttl_ms: i64,
    fields: Vec<String>,
    full_ttl: Duration,
) -> Result<CartSnapshot, StoreError> {
    // -1 (no expiry) cannot come from this code's writes; report the full TTL rather than fail.
    let ttl_left = u64::try_from(ttl_ms)
        .map(Duration::from_millis)
        .unwrap_or(full_ttl);
    Ok(CartSnapshot {
        lines: lines(fields)?,
        ttl_left,
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl CartStore for RedisStore {
    fn add<'a>(
        &'a self,
        session: &'a SessionId,
        a: Addition,
    ) -> BoxFuture<'a, Result<Result<CartSnapshot, AddRefusal>, StoreError>> {
        async move {
            let inner = &self.inner;
            let (status, ttl_ms, current, fields): (String, i64, u64, Vec<String>) = inner
                .link
                .bounded("add", async {
                    let mut c = inner.link.conn().await?;
                    inner
                        .add
                        .key(Inner::key(session))
                        .arg(a.doce_id)
                        .arg(a.quantidade)
                        .arg(a.estoque.min(STOCK_CLAMP))
                        .arg(inner.ttl_ms())
                        .arg(QUANTIDADE_MAXIMA)
                        .arg(MAX_LINHAS)
                        .arg(now_ms())
                        .invoke_async(&mut c)
                        .await
                })
                .await?;
            match status.as_str() {
                "ok" => Ok(Ok(snapshot(ttl_ms, fields, inner.ttl)?)),
                "cart_full" => Ok(Err(AddRefusal::CartFull)),
                "line_limit" => Ok(Err(AddRefusal::LineLimit {
                    no_carrinho: current,
                })),
                "insufficient_stock" => Ok(Err(AddRefusal::InsufficientStock {
                    no_carrinho: current,
                })),
                other => Err(StoreError::Corrupt(format!("add script said {other:?}"))),
            }
        }
        .boxed()
    }

    fn remove<'a>(
        &'a self,
        session: &'a SessionId,
        doce_id: u64,
    ) -> BoxFuture<'a, Result<Removal, StoreError>> {
        async move {
            let inner = &self.inner;
            let (status, ttl_ms, fields): (String, i64, Vec<String>) = inner
                .link
                .bounded("remove", async {
                    let mut c = inner.link.conn().await?;
                    inner
                        .remove
                        .key(Inner::key(session))
                        .arg(doce_id)
                        .arg(inner.ttl_ms())
                        .invoke_async(&mut c)
                        .await
                })
                .await?;
            match status.as_str() {
                "ok" => Ok(Removal::Removed(snapshot(ttl_ms, fields, inner.ttl)?)),
                "cart_not_found" => Ok(Removal::NoCart),
                "item_not_found" => Ok(Removal::NoItem),
                other => Err(StoreError::Corrupt(format!("remove script said {other:?}"))),
            }
        }
        .boxed()
    }

    fn get<'a>(
        &'a self,
        session: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<CartSnapshot>, StoreError>> {
        async move {
            let inner = &self.inner;
            let (status, ttl_ms, fields): (String, i64, Vec<String>) = inner
                .link
                .bounded("get", async {
                    let mut c = inner.link.conn().await?;
                    inner
                        .get
                        .key(Inner::key(session))
                        .invoke_async(&mut c)
                        .await
                })
                .await?;
            match status.as_str() {
                "ok" => Ok(Some(snapshot(ttl_ms, fields, inner.ttl)?)),
                "cart_not_found" => Ok(None),
                other => Err(StoreError::Corrupt(format!("get script said {other:?}"))),
            }
        }
        .boxed()
    }

    fn delete<'a>(&'a self, session: &'a SessionId) -> BoxFuture<'a, Result<bool, StoreError>> {
        async move {
            let inner = &self.inner;
            let removed: u64 = inner
                .link
                .bounded("delete", async {
                    let mut c = inner.link.conn().await?;
                    redis::cmd("DEL")
                        .arg(Inner::key(session))
                        .query_async(&mut c)
                        .await
                })
                .await?;
            Ok(removed > 0)
        }
        .boxed()
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        async move { self.inner.link.ping().await }.boxed()
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_skip_the_marker_and_sort_by_id() {
        let fields = ["doce:7", "2", "criado_em", "1", "doce:3", "5"]
            .map(String::from)
            .to_vec();
        let got = lines(fields).unwrap();
        assert_eq!(
            got,
            vec![
                Line {
                    doce_id: 3,
                    quantidade: 5
                },
                Line {
                    doce_id: 7,
                    quantidade: 2
                }
            ]
        );
    }

    #[test]
    fn lines_reject_fields_this_code_never_writes() {
        assert!(lines(vec!["x".into(), "1".into()]).is_err());
        assert!(lines(vec!["doce:1".into(), "um".into()]).is_err());
    }
}
