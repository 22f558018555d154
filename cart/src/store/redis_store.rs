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
//! Connections go through `redis`'s `ConnectionManager`, which reconnects by itself. It is
//! created lazily (the service starts, and says not ready, while Redis is down), and a
//! background ping keeps it reconnecting while no request comes. Every call runs under a
//! deadline, so a dead Redis costs a request at most that long.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use confeitaria_types::cart::{MAX_LINHAS, QUANTIDADE_MAXIMA};
use futures::future::{BoxFuture, FutureExt};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, RedisResult, Script};
use tokio::sync::OnceCell;

use super::{Adicao, CartSnapshot, CartStore, Linha, Recusa, Remocao, StoreError};
use crate::session::SessionId;

/// Prefix of every cart key.
pub const KEY_PREFIX: &str = "confeitaria:carrinho:";
/// Hash field that marks the cart as existing, whatever its lines.
const CREATED_FIELD: &str = "criado_em";
/// Prefix of the hash fields that hold lines.
const LINE_PREFIX: &str = "doce:";
/// How often the background task pings Redis so the connection is rebuilt without traffic.
const KEEPALIVE_EVERY: Duration = Duration::from_millis(500);
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
    client: redis::Client,
    manager: OnceCell<ConnectionManager>,
    manager_config: ConnectionManagerConfig,
    ttl: Duration,
    deadline: Duration,
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
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| StoreError::Unavailable(format!("bad Redis URL: {e}")))?;
        // One connection attempt per reconnect, no backoff sleeps: the redis crate's backoff
        // starts at one second and grows a hundredfold, which would keep the service down long
        // after Redis is back. The keepalive below triggers the next attempt soon enough.
        let manager_config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(config.deadline)
            .set_response_timeout(config.deadline);
        let inner = Arc::new(Inner {
            client,
            manager: OnceCell::new(),
            manager_config,
            ttl: config.ttl,
            deadline: config.deadline,
            add: Script::new(include_str!("add.lua")),
            remove: Script::new(include_str!("remove.lua")),
            get: Script::new(include_str!("get.lua")),
        });
        tokio::spawn(keepalive(Arc::downgrade(&inner)));
        Ok(Self { inner })
    }
}

/// Pings Redis every [`KEEPALIVE_EVERY`] until the store is dropped.
async fn keepalive(inner: Weak<Inner>) {
    let mut was_up = None;
    loop {
        tokio::time::sleep(KEEPALIVE_EVERY).await;
        let Some(inner) = inner.upgrade() else { return };
        let up = inner.ping().await.is_ok();
        if was_up != Some(up) {
            if up {
                tracing::info!("redis reachable");
            } else {
                tracing::warn!("redis unreachable");
            }
            was_up = Some(up);
        }
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

    /// The shared connection, created on first use.
    async fn conn(&self) -> RedisResult<ConnectionManager> {
        self.manager
            .get_or_try_init(|| {
                ConnectionManager::new_with_config(self.client.clone(), self.manager_config.clone())
            })
            .await
            .cloned()
    }

    /// Runs one Redis exchange under the deadline.
    async fn bounded<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.deadline, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(classify(what, e)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "{what}: no answer within {:?}",
                self.deadline
            ))),
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let reply: String = self
            .bounded("ping", async {
                let mut c = self.conn().await?;
                redis::cmd("PING").query_async(&mut c).await
            })
            .await?;
        if reply == "PONG" {
            Ok(())
        } else {
            Err(StoreError::Corrupt(format!("PING answered {reply:?}")))
        }
    }
}

/// Redis errors that mean "try again later" become `Unavailable` (503); errors that mean this
/// code and the server disagree become `Corrupt` (500).
fn classify(what: &str, e: RedisError) -> StoreError {
    match e.kind() {
        ErrorKind::TypeError | ErrorKind::ParseError | ErrorKind::ResponseError => {
            StoreError::Corrupt(format!("{what}: {e}"))
        }
        _ => StoreError::Unavailable(format!("{what}: {e}")),
    }
}

/// Turns a flat `HGETALL` reply into lines ordered by product id.
fn lines(fields: Vec<String>) -> Result<Vec<Linha>, StoreError> {
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
        out.push(Linha {
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
    let ttl_restante = u64::try_from(ttl_ms)
        .map(Duration::from_millis)
        .unwrap_or(full_ttl);
    Ok(CartSnapshot {
        linhas: lines(fields)?,
        ttl_restante,
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
        a: Adicao,
    ) -> BoxFuture<'a, Result<Result<CartSnapshot, Recusa>, StoreError>> {
        async move {
            let inner = &self.inner;
            let (status, ttl_ms, atual, fields): (String, i64, u64, Vec<String>) = inner
                .bounded("add", async {
                    let mut c = inner.conn().await?;
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
                "cart_full" => Ok(Err(Recusa::CarrinhoCheio)),
                "line_limit" => Ok(Err(Recusa::LimiteLinha { no_carrinho: atual })),
                "insufficient_stock" => Ok(Err(Recusa::EstoqueInsuficiente { no_carrinho: atual })),
                other => Err(StoreError::Corrupt(format!("add script said {other:?}"))),
            }
        }
        .boxed()
    }

    fn remove<'a>(
        &'a self,
        session: &'a SessionId,
        doce_id: u64,
    ) -> BoxFuture<'a, Result<Remocao, StoreError>> {
        async move {
            let inner = &self.inner;
            let (status, ttl_ms, fields): (String, i64, Vec<String>) = inner
                .bounded("remove", async {
                    let mut c = inner.conn().await?;
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
                "ok" => Ok(Remocao::Removida(snapshot(ttl_ms, fields, inner.ttl)?)),
                "cart_not_found" => Ok(Remocao::CarrinhoInexistente),
                "item_not_found" => Ok(Remocao::ItemInexistente),
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
                .bounded("get", async {
                    let mut c = inner.conn().await?;
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
                .bounded("delete", async {
                    let mut c = inner.conn().await?;
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
        async move { self.inner.ping().await }.boxed()
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
                Linha {
                    doce_id: 3,
                    quantidade: 5
                },
                Linha {
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
