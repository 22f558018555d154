//! Test harness: an in-process catalog cluster, the real cart service (in process, over TCP,
//! pricing from that cluster), the orders service in process or as the real binary, and the
//! checks that tie order statuses to the catalog's stock counters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cart::catalog::{Catalog as CartCatalog, CatalogError};
use cart::store::{CartStore, MemoryStore, DEFAULT_TTL};
use catalog_node::testing::{TestCluster, TEST_JWT_SECRET};
use confeitaria_client::config::Secret;
use confeitaria_client::transport::Transport;
use confeitaria_client::{CatalogClient, ClientError, Consistency};
use confeitaria_types::auth::{self, TokenRole};
use confeitaria_types::orders::{EventosPedido, Pedido, StatusPedido};
use confeitaria_types::{Doce, EstoqueDetalhe};
use futures::future::{BoxFuture, FutureExt};
use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use confeitaria_service::testing::{eventually, free_port, RedisServer};

/// A token for `role` under the test clusters' secret.
pub fn token(role: TokenRole) -> String {
    auth::sign(
        TEST_JWT_SECRET.as_bytes(),
        role,
        "test",
        auth::now_secs(),
        3600,
    )
    .unwrap()
}

/// One HTTP exchange; the body parsed as JSON (`Null` when empty or not JSON).
pub async fn http(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Result<(StatusCode, http::HeaderMap, Value), String> {
    let t = Transport::http();
    let body = body.map(|b| serde_json::to_vec(&b).unwrap());
    let r = t
        .send(method, url, headers, body, Duration::from_secs(30))
        .await
        .map_err(|e| e.to_string())?;
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    Ok((r.status, r.headers, v))
}

/// The cart's catalog look-ups answered by the real catalog (any node's replica).
struct CatalogoReal(CatalogClient);

impl CartCatalog for CatalogoReal {
    fn doce(&self, id: u64) -> BoxFuture<'_, Result<Option<Doce>, CatalogError>> {
        async move {
            match self.0.doce(id, Consistency::Local).await {
                Ok(d) => Ok(Some(d)),
                Err(ClientError::NotFound) => Ok(None),
                Err(e) => Err(CatalogError::Unavailable(e.to_string())),
            }
        }
        .boxed()
    }
}

/// The catalog cluster with the clients tests use.
pub struct Catalog {
    /// The cluster.
    pub cluster: TestCluster,
    /// Admin client.
    pub admin: CatalogClient,
}

impl Catalog {
    /// Three nodes; products `estoques` (`id → available`) set.
    pub async fn spawn(estoques: &[(u64, u64)]) -> Self {
        let cluster = TestCluster::spawn(3).await;
        cluster.wait_leader(Duration::from_secs(10)).await;
        let admin =
            CatalogClient::new(cluster.api_addrs()).with_token(cluster.token(TokenRole::Admin));
        for (id, n) in estoques {
            admin.set_estoque(*id, *n).await.unwrap();
        }
        Self { cluster, admin }
    }

    /// Comma-separated node addresses.
    pub fn nodes(&self) -> String {
        self.cluster.api_addrs().join(",")
    }

    /// The counters of product `id`, read through the leader.
    pub async fn estoque(&self, id: u64) -> EstoqueDetalhe {
        let mut last = None;
        for _ in 0..50 {
            match self.admin.estoque(id, Consistency::Linearizable).await {
                Ok(e) => return e,
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("estoque {id}: {last:?}")
    }

    /// The reservation's state (`reservada|confirmada|liberada`), `None` if unknown.
    pub async fn reserva(&self, id: &str) -> Option<String> {
        let t = token(TokenRole::Service);
        let auth = format!("Bearer {t}");
        for _ in 0..50 {
            for addr in self.cluster.api_addrs() {
                let url = format!("http://{addr}/api/reservas/{id}");
                if let Ok((s, _, v)) =
                    http(Method::GET, &url, &[("authorization", &auth)], None).await
                {
                    match s {
                        StatusCode::OK => return Some(v["estado"].as_str().unwrap().to_owned()),
                        StatusCode::NOT_FOUND => return None,
                        _ => {}
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("cannot read reservation {id}")
    }
}

/// The real cart service in this process, on a loopback port, over the memory store.
pub struct Cart {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its state (store, metrics).
    pub state: cart::AppState,
    stop: Option<oneshot::Sender<()>>,
}

impl Cart {
    /// Starts the cart over `store`, pricing from `catalog`, taking direct order-event
    /// deliveries signed with the test secret.
    pub async fn start_with(catalog: &Catalog, store: Arc<dyn CartStore>) -> Self {
        Self::start_consuming(catalog, store, None).await
    }

    /// As [`Cart::start_with`], also consuming `pedidos:eventos` as `events` says.
    pub async fn start_consuming(
        catalog: &Catalog,
        store: Arc<dyn CartStore>,
        events: Option<cart::events::EventsConfig>,
    ) -> Self {
        let client = CatalogClient::new(catalog.cluster.api_addrs());
        let mut state = cart::AppState::new(
            store,
            Arc::new(CatalogoReal(client)),
            cart::Limits::default(),
        );
        state.jwt_secret = Secret::new(TEST_JWT_SECRET);
        let consumer = events.map(|c| cart::events::Consumer::for_state(c, &state).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(cart::serve(listener, state.clone(), consumer, async move {
            let _ = rx.await;
        }));
        Self {
            url,
            state,
            stop: Some(tx),
        }
    }

    /// How many order events the cart handled with `outcome` (`emptied`, `duplicate`, ...).
    pub fn handled(&self, outcome: &str) -> u64 {
        let line = format!("cart_order_events_total{{outcome=\"{outcome}\"}} ");
        self.state
            .metrics
            .render()
            .lines()
            .find_map(|l| l.strip_prefix(line.as_str()).map(str::to_owned))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Whether `session` has a cart, read through the cart API.
    pub async fn has_cart(&self, session: &str) -> bool {
        let url = format!("{}/api/carrinho/{session}", self.url);
        let (s, _, v) = http(Method::GET, &url, &[], None).await.unwrap();
        match s {
            StatusCode::OK => true,
            StatusCode::NOT_FOUND => false,
            s => panic!("cart read answered {s}: {v}"),
        }
    }

    /// Starts the cart over its embedded memory store.
    pub async fn start(catalog: &Catalog) -> Self {
        Self::start_with(catalog, Arc::new(MemoryStore::new(DEFAULT_TTL))).await
    }

    /// Adds `itens` (`doce_id`, units) to a new cart; returns its session id.
    pub async fn novo(&self, itens: &[(u64, u64)]) -> String {
        let mut session: Option<String> = None;
        for (doce_id, q) in itens {
            let mut h = vec![];
            if let Some(s) = &session {
                h.push(("x-session-id", s.as_str()));
            }
            let (s, headers, v) = http(
                Method::POST,
                &format!("{}/api/carrinho/adicionar", self.url),
                &h,
                Some(json!({"doce_id": doce_id, "quantidade": q})),
            )
            .await
            .unwrap();
            assert_eq!(s, StatusCode::OK, "add to cart: {v}");
            session = Some(headers["x-session-id"].to_str().unwrap().to_owned());
        }
        session.unwrap()
    }
}

impl Drop for Cart {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// An orders client over HTTP.
#[derive(Clone)]
pub struct OrdersApi {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl OrdersApi {
    /// `POST /api/pedidos`.
    pub async fn checkout(&self, key: &str, session: &str) -> Result<(StatusCode, Value), String> {
        http(
            Method::POST,
            &format!("{}/api/pedidos", self.url),
            &[("idempotency-key", key)],
            Some(json!({ "session_id": session })),
        )
        .await
        .map(|(s, _, v)| (s, v))
    }

    /// `GET /api/pedidos/{id}` as admin.
    pub async fn pedido(&self, id: &str) -> Pedido {
        self.admin_get(&format!("/api/pedidos/{id}")).await
    }

    /// `GET /api/pedidos/{id}/eventos` as admin.
    pub async fn eventos(&self, id: &str) -> EventosPedido {
        self.admin_get(&format!("/api/pedidos/{id}/eventos")).await
    }

    /// `GET path` as admin, which must answer 200 with a `T`.
    async fn admin_get<T: DeserializeOwned>(&self, path: &str) -> T {
        let auth = format!("Bearer {}", token(TokenRole::Admin));
        let url = format!("{}{path}", self.url);
        let (s, _, v) = http(Method::GET, &url, &[("authorization", &auth)], None)
            .await
            .unwrap();
        assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
        serde_json::from_value(v).unwrap()
    }

    /// `PUT /api/pedidos/{id}/status` as admin.
    pub async fn status(&self, id: &str, status: &str) -> Result<(StatusCode, Value), String> {
        let auth = format!("Bearer {}", token(TokenRole::Admin));
        http(
            Method::PUT,
            &format!("{}/api/pedidos/{id}/status", self.url),
            &[("authorization", &auth)],
            Some(json!({ "status": status })),
        )
        .await
        .map(|(s, _, v)| (s, v))
    }

    /// The `orders_open_saga_steps` gauge of `/metrics`.
    pub async fn open_steps(&self) -> Option<u64> {
        self.metric("orders_open_saga_steps").await
    }

    /// The value of an unlabelled metric of `/metrics`.
    pub async fn metric(&self, name: &str) -> Option<u64> {
        let t = Transport::http();
        let r = t
            .send(
                Method::GET,
                &format!("{}/metrics", self.url),
                &[],
                None,
                Duration::from_secs(5),
            )
            .await
            .ok()?;
        let text = String::from_utf8(r.body.to_vec()).ok()?;
        let prefix = format!("{name} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Whether `/health` answers.
    pub async fn healthy(&self) -> bool {
        matches!(
            http(Method::GET, &format!("{}/health", self.url), &[], None).await,
            Ok((StatusCode::OK, _, _))
        )
    }

    /// Waits until the order's saga has ended (no open step, not `pendente`); returns it.
    pub async fn terminado(&self, id: &str, deadline: Duration) -> Pedido {
        let until = Instant::now() + deadline;
        loop {
            let evs = self.eventos(id).await;
            let fim = evs.eventos.last().map(|e| e.dados.tipo()).unwrap_or("");
            let p = self.pedido(id).await;
            if p.status != StatusPedido::Pendente
                && !matches!(
                    fim,
                    "criado" | "pagamento_solicitado" | "cancelamento_solicitado"
                )
            {
                return p;
            }
            assert!(Instant::now() < until, "order {id} did not end: {p:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The orders service running in this process.
pub struct InProcess {
    /// Its API.
    pub api: OrdersApi,
    /// Its state (store, saga).
    pub state: orders::AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), orders::RunError>>>,
}

/// Settings for an orders service against `catalog` and `cart`, data in `dir`.
pub fn config(
    dir: &Path,
    catalog: &Catalog,
    cart: &Cart,
    redis: Option<&str>,
) -> orders::config::Config {
    let mut c = orders::config::Config::with_data_dir(dir).unwrap();
    c.catalog_nodes = catalog.cluster.api_addrs();
    c.cart_url = cart.url.clone();
    c.jwt_secret = Secret::new(TEST_JWT_SECRET);
    c.redis_url = redis.unwrap_or("").parse().unwrap();
    c.recovery_interval_ms = 200;
    c.redis_timeout_ms = 300;
    c
}

impl InProcess {
    /// Opens and serves `config` on a free port.
    pub async fn start(config: orders::config::Config) -> Self {
        Self::serve(orders::App::open(config).unwrap()).await
    }

    /// As [`InProcess::start`], delivering order events (without Redis) to `url` instead of
    /// the cart it reads.
    pub async fn start_with_delivery_to(config: orders::config::Config, url: &str) -> Self {
        let direct = orders::direct::DirectDelivery::new(
            url,
            config.jwt_secret.clone(),
            config.cart_timeout(),
        );
        Self::serve(
            orders::App::open(config)
                .unwrap()
                .with_direct_delivery(direct),
        )
        .await
    }

    async fn serve(app: orders::App) -> Self {
        let state = app.state.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.serve(listener, async move {
            let _ = rx.await;
        }));
        Self {
            api: OrdersApi { url },
            state,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Shuts down gracefully and waits.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The real `orders` binary, as a child process.
pub struct Process {
    /// Its API.
    pub api: OrdersApi,
    child: Child,
}

/// What the binary needs besides its failpoint.
#[derive(Clone)]
pub struct ProcessEnv {
    /// Data directory (kept across restarts).
    pub data_dir: PathBuf,
    /// Catalog nodes, comma-separated.
    pub nodes: String,
    /// Cart base URL.
    pub cart_url: String,
    /// Redis URL or empty.
    pub redis_url: String,
    /// Where stderr goes.
    pub log: PathBuf,
}

impl ProcessEnv {
    /// Data and log in `dir`, against `catalog` and `cart`, publishing to `redis_url` (or
    /// nowhere when empty).
    pub fn new(dir: &TempDir, catalog: &Catalog, cart: &Cart, redis_url: &str) -> Self {
        Self {
            data_dir: dir.path().join("orders"),
            nodes: catalog.nodes(),
            cart_url: cart.url.clone(),
            redis_url: redis_url.to_owned(),
            log: dir.path().join("orders.log"),
        }
    }
}

impl Process {
    /// Starts the binary on a free port with `failpoint` armed (if any) and waits for
    /// `/health`.
    pub async fn start(env: &ProcessEnv, failpoint: Option<&str>) -> Self {
        let mut p = Self::spawn(env, failpoint);
        let api = p.api.clone();
        let up = eventually(Duration::from_secs(20), || {
            let api = api.clone();
            async move { api.healthy().await }
        })
        .await;
        if !up {
            let _ = p.child.kill();
            panic!(
                "orders binary did not come up: {}",
                std::fs::read_to_string(&env.log).unwrap_or_default()
            );
        }
        p
    }

    /// Starts the binary on a free port with `failpoint` armed (if any), without waiting for
    /// it: for a failpoint that work done at start-up reaches, so the process may abort before
    /// it would ever have been seen healthy.
    pub fn spawn(env: &ProcessEnv, failpoint: Option<&str>) -> Self {
        let port = free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&env.log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_orders"));
        cmd.env("CONFEITARIA_ORDERS_ADDR", format!("127.0.0.1:{port}"))
            .env("CONFEITARIA_CATALOG_NODES", &env.nodes)
            .env("CONFEITARIA_CART_URL", &env.cart_url)
            .env("CONFEITARIA_REDIS_URL", &env.redis_url)
            .env("CONFEITARIA_JWT_SECRET", TEST_JWT_SECRET)
            .env("CONFEITARIA_DATA_DIR", &env.data_dir)
            .env("CONFEITARIA_ORDERS_RECOVERY_MS", "200")
            .env("CONFEITARIA_REDIS_TIMEOUT_MS", "300")
            .env("RUST_LOG", "info")
            .env_remove(orders::failpoint::VAR)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(f) = failpoint {
            cmd.env(orders::failpoint::VAR, f);
        }
        let child = cmd.spawn().unwrap();
        Self {
            api: OrdersApi {
                url: format!("http://127.0.0.1:{port}"),
            },
            child,
        }
    }

    /// Waits for the process to exit by itself; returns whether it aborted (SIGABRT).
    pub async fn wait_aborted(&mut self, deadline: Duration) -> bool {
        use std::os::unix::process::ExitStatusExt;
        let until = Instant::now() + deadline;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.signal() == Some(6);
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill -9` and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Units per product in `pedidos` whose status is in `statuses`.
fn unidades(pedidos: &[Pedido], statuses: &[StatusPedido]) -> BTreeMap<u64, u64> {
    let mut m = BTreeMap::new();
    for p in pedidos.iter().filter(|p| statuses.contains(&p.status)) {
        for i in &p.itens {
            *m.entry(i.doce_id).or_default() += i.quantidade;
        }
    }
    m
}

/// Asserts that the catalog's counters and reservations are exactly what the orders hold:
/// `reservado` = units of `confirmado` orders, `vendido` = units of paid (and later) orders,
/// `disponivel` = initial − both; and each order's reservation is in the matching state.
pub async fn assert_consistent(catalog: &Catalog, pedidos: &[Pedido], iniciais: &[(u64, u64)]) {
    use StatusPedido::*;
    let reservado = unidades(pedidos, &[Confirmado]);
    let vendido = unidades(pedidos, &[Pago, Enviado, Entregue]);
    for (id, inicial) in iniciais {
        let e = catalog.estoque(*id).await;
        let r = reservado.get(id).copied().unwrap_or(0);
        let v = vendido.get(id).copied().unwrap_or(0);
        assert_eq!(
            (e.reservado, e.vendido, e.disponivel),
            (r, v, inicial - r - v),
            "product {id}: counters {e:?} vs orders (reserved {r}, sold {v}, initial {inicial})"
        );
    }
    for p in pedidos {
        let estado = catalog.reserva(&p.id).await;
        let esperado = match p.status {
            Pendente => panic!("order {} still pendente", p.id),
            Confirmado => Some("reservada"),
            Pago | Enviado | Entregue => Some("confirmada"),
            Cancelado => Some("liberada"),
            Rejeitado => None,
        };
        assert_eq!(
            estado.as_deref(),
            esperado,
            "reservation of order {} ({:?})",
            p.id,
            p.status
        );
    }
}

/// A temp dir whose path is handed to a process.
pub fn temp() -> TempDir {
    tempfile::tempdir().unwrap()
}

/// One entry of `pedidos:eventos`, as field → value.
pub type Entrada = BTreeMap<String, String>;

/// Every entry of the stream (empty if Redis does not answer).
pub async fn stream(url: &str) -> Vec<Entrada> {
    let fut = async {
        let client = redis::Client::open(url).ok()?;
        let mut c = client.get_multiplexed_async_connection().await.ok()?;
        let v: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(confeitaria_types::orders::STREAM_EVENTOS)
            .arg("-")
            .arg("+")
            .query_async(&mut c)
            .await
            .ok()?;
        Some(
            v.ids
                .into_iter()
                .map(|e| {
                    e.map
                        .into_iter()
                        .map(|(k, v)| {
                            (k, redis::from_redis_value::<String>(&v).unwrap_or_default())
                        })
                        .collect()
                })
                .collect(),
        )
    };
    tokio::time::timeout(Duration::from_secs(2), fut)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}
