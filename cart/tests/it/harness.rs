//! Test harness: a real `redis-server` per test (the shared one of `confeitaria-service`),
//! the cart router over either store, and an in-process table standing in for the catalog
//! where the catalog is not what is tested.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use cart::catalog::{Catalog, CatalogError};
use cart::store::{CartStore, MemoryStore, RedisStore, RedisStoreConfig, DEFAULT_TTL};
use cart::{AppState, Limits};
use confeitaria_types::Doce;
use futures::future::{BoxFuture, FutureExt};
use serde_json::Value;
use tower::ServiceExt;

pub use confeitaria_service::testing::{eventually, ChildGuard, RedisServer};

/// Deadline every Redis call of the service under test gets.
pub const REDIS_DEADLINE: Duration = Duration::from_millis(500);

/// The `cart` binary with an empty environment but for plain `info` logs: add its settings,
/// then [`CartProcess::spawn`] it.
pub fn cart_binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cart"));
    cmd.env_clear().env("NO_COLOR", "1").env("RUST_LOG", "info");
    cmd
}

/// A `cart` child process (killed on drop) and the address it logged.
pub struct CartProcess {
    pub child: ChildGuard,
    /// `host:port` it bound.
    pub addr: String,
    /// The whole log line naming it: `... cart listening addr=HOST:PORT store="..."`.
    pub line: String,
}

impl CartProcess {
    /// Spawns `cmd` and waits (at most 20 s) until it logs the address it bound.
    pub fn spawn(mut cmd: Command) -> Self {
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = ChildGuard(child);
        let stdout = child.0.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("addr=").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_owned();
                    let _ = tx.send((addr, line));
                }
            }
        });
        let (addr, line) = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the binary never logged its address");
        Self { child, addr, line }
    }

    /// Sends SIGTERM and waits (at most 10 s) for the process to exit; its status.
    pub async fn terminate(mut self) -> ExitStatus {
        let pid = self.child.0.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid} failed");
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self.child.0.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < until, "no exit after SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Products the table catalog starts with: ids 1..=60, named `Doce {id}`, priced `100 * id`
/// cents, 1000 units each, all active.
pub const SEEDED: u64 = 60;

/// The catalog as an in-process table (no HTTP), with a switch that makes it unreachable.
pub struct TableCatalog {
    doces: Mutex<HashMap<u64, Doce>>,
    down: AtomicBool,
}

impl TableCatalog {
    pub fn seeded() -> Self {
        let doces = (1..=SEEDED)
            .map(|id| {
                (
                    id,
                    Doce {
                        id,
                        nome: format!("Doce {id}"),
                        descricao: String::new(),
                        preco_centavos: 100 * id,
                        categoria: "doces".into(),
                        estoque: 1000,
                        ativo: true,
                        versao: 1,
                    },
                )
            })
            .collect();
        Self {
            doces: Mutex::new(doces),
            down: AtomicBool::new(false),
        }
    }

    pub fn update(&self, id: u64, f: impl FnOnce(&mut Doce)) {
        f(self.doces.lock().unwrap().get_mut(&id).unwrap());
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

impl Catalog for TableCatalog {
    fn doce(&self, id: u64) -> BoxFuture<'_, Result<Option<Doce>, CatalogError>> {
        let r = if self.down.load(Ordering::SeqCst) {
            Err(CatalogError::Unavailable(
                "table catalog switched off".into(),
            ))
        } else {
            Ok(self.doces.lock().unwrap().get(&id).cloned())
        };
        futures::future::ready(r).boxed()
    }
}

/// Which store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    Redis,
}

/// An answer, with the body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Resp {
    /// The `error.code` of an error body.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("<none>")
    }

    /// `X-Session-Id` of the answer.
    pub fn session(&self) -> String {
        self.headers
            .get("x-session-id")
            .expect("no X-Session-Id header")
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// Units of `doce_id` in a cart body (0 if absent).
    pub fn qty(&self, doce_id: u64) -> u64 {
        self.json["itens"]
            .as_array()
            .expect("not a cart")
            .iter()
            .find(|i| i["doce_id"] == doce_id)
            .map_or(0, |i| i["quantidade"].as_u64().unwrap())
    }

    /// Asserts a docs/design.md error: status, JSON body with this code and a message.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(self.code(), code, "body: {}", self.text);
        assert!(
            self.json["error"]["message"].is_string(),
            "body: {}",
            self.text
        );
    }
}

/// The cart router over one store and a table catalog.
pub struct TestApp {
    pub router: axum::Router,
    /// The state behind the router (its store, metrics, consumer status).
    pub state: AppState,
    pub catalog: Arc<TableCatalog>,
    pub redis: Option<RedisServer>,
}

impl TestApp {
    pub async fn spawn(kind: StoreKind) -> Self {
        Self::with_ttl(kind, DEFAULT_TTL).await
    }

    pub async fn with_ttl(kind: StoreKind, ttl: Duration) -> Self {
        let catalog = Arc::new(TableCatalog::seeded());
        Self::build(kind, ttl, catalog.clone(), catalog).await
    }

    /// Any catalog; `table` is kept for tests that poke it (unused when `catalog` is real).
    pub async fn build(
        kind: StoreKind,
        ttl: Duration,
        catalog: Arc<dyn Catalog>,
        table: Arc<TableCatalog>,
    ) -> Self {
        match kind {
            StoreKind::Memory => {
                let store = Arc::new(MemoryStore::new(ttl));
                Self::assemble(store, None, catalog, table)
            }
            StoreKind::Redis => Self::on_redis(RedisServer::start(), ttl, catalog, table),
        }
    }

    /// The service on an existing (possibly stopped) Redis server.
    pub fn on_redis(
        server: RedisServer,
        ttl: Duration,
        catalog: Arc<dyn Catalog>,
        table: Arc<TableCatalog>,
    ) -> Self {
        let store = RedisStore::new(RedisStoreConfig {
            url: server.url(),
            ttl,
            deadline: REDIS_DEADLINE,
        })
        .unwrap();
        Self::assemble(Arc::new(store), Some(server), catalog, table)
    }

    fn assemble(
        store: Arc<dyn CartStore>,
        redis: Option<RedisServer>,
        catalog: Arc<dyn Catalog>,
        table: Arc<TableCatalog>,
    ) -> Self {
        let state = AppState::new(store, catalog, Limits::default());
        Self {
            router: cart::router(state.clone()),
            state,
            catalog: table,
            redis,
        }
    }

    pub fn redis(&mut self) -> &mut RedisServer {
        self.redis.as_mut().expect("not a Redis test")
    }

    /// Sends one request through the router (no socket).
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        session: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(s) = session {
            req = req.header("x-session-id", s);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b)),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            json,
            text,
        }
    }

    pub async fn add(&self, session: Option<&str>, doce_id: u64, quantidade: u64) -> Resp {
        let body = serde_json::json!({"doce_id": doce_id, "quantidade": quantidade});
        self.add_raw(session, body.to_string().into_bytes()).await
    }

    pub async fn add_raw(&self, session: Option<&str>, body: Vec<u8>) -> Resp {
        self.call(Method::POST, "/api/carrinho/adicionar", session, Some(body))
            .await
    }

    pub async fn get(&self, session: &str) -> Resp {
        self.call(Method::GET, &format!("/api/carrinho/{session}"), None, None)
            .await
    }

    pub async fn remove(&self, session: Option<&str>, doce_id: &str) -> Resp {
        let uri = format!("/api/carrinho/remover/{doce_id}");
        self.call(Method::DELETE, &uri, session, None).await
    }

    pub async fn delete(&self, session: &str) -> Resp {
        self.call(
            Method::DELETE,
            &format!("/api/carrinho/{session}"),
            None,
            None,
        )
        .await
    }

    /// A new cart holding `qty` of `doce_id`; returns its session id.
    pub async fn new_cart(&self, doce_id: u64, qty: u64) -> String {
        let r = self.add(None, doce_id, qty).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.session()
    }
}

/// Generates `memory::$name` and `redis::$name` tests from `async fn $name(StoreKind)`.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::harness::StoreKind::Memory).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::harness::StoreKind::Redis).await
                }
            )*
        }
    };
}
