//! Test harness: gateways in process on loopback ports, in front of real in-process services
//! (a catalog cluster, the cart, orders) or of fakes; and one HTTP exchange with a deadline.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use catalog_node::testing::{TestCluster, TEST_JWT_SECRET};
use confeitaria_client::config::Secret;
use confeitaria_client::CatalogClient;
use confeitaria_types::auth::{self, TokenRole};
use gateway::config::Config;
use gateway::control::NodeControl;
use gateway::Gateway;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use confeitaria_service::testing::eventually;

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

/// An answer read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One exchange with a 30 s deadline.
pub async fn call(method: Method, url: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    try_call(method, url, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// One exchange with a 30 s deadline; transport failures as `Err`.
pub async fn try_call(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Answer, String> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if !body.is_empty() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_owned())))
        .map_err(|e| e.to_string())?;
    let fut = async {
        let r = client.request(req).await.map_err(|e| e.to_string())?;
        let (parts, body) = r.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .map_err(|_| "deadline".to_owned())?
}

/// Settings for a test gateway: no cluster file, fast probes, no rate limit.
pub fn config(catalog: Vec<String>, cart: &str, orders: &str) -> Config {
    let mut c = Config::defaults().unwrap();
    c.addr = "127.0.0.1:0".into();
    c.catalog_nodes = catalog;
    c.catalog_node_ids = Vec::new();
    c.cart_url = cart.to_owned();
    c.orders_url = orders.to_owned();
    c.jwt_secret = Secret::new(TEST_JWT_SECRET);
    c.probe_interval_ms = 100;
    c.rate_limit_per_sec = 0;
    c
}

/// The storefront, calling the API through the gateway at `url`.
fn storefront(url: &str) -> Option<axum::Router> {
    let mut c = storefront::Config::new(url);
    c.admin_jwt_secret = Some(Secret::new(TEST_JWT_SECRET));
    Some(storefront::router(c))
}

/// A gateway serving in this process, with the storefront.
pub struct TestGateway {
    pub url: String,
    pub state: Gateway,
    stop: Option<oneshot::Sender<()>>,
}

impl TestGateway {
    pub async fn start(config: &Config) -> Self {
        Self::start_with(config, None).await
    }

    pub async fn start_with(config: &Config, control: Option<Arc<dyn NodeControl>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Gateway::new(config, control);
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(gateway::serve(
            listener,
            state.clone(),
            storefront(&url),
            async move {
                let _ = rx.await;
            },
        ));
        Self {
            url,
            state,
            stop: Some(tx),
        }
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A service stopped when dropped.
pub struct Running {
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

async fn bound() -> (
    TcpListener,
    String,
    oneshot::Sender<()>,
    oneshot::Receiver<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    (listener, url, tx, rx)
}

/// The whole shop in process: three catalog nodes, the cart (embedded store), orders, and a
/// gateway in front.
pub struct Shop {
    pub cluster: TestCluster,
    pub cart: Running,
    pub orders: Running,
    pub gateway: TestGateway,
    pub admin: CatalogClient,
    _orders_dir: TempDir,
}

impl Shop {
    pub async fn start() -> Self {
        let cluster = TestCluster::spawn(3).await;
        cluster.wait_leader(Duration::from_secs(10)).await;
        let nodes = cluster.api_addrs();
        let admin = CatalogClient::new(nodes.clone()).with_token(token(TokenRole::Admin));

        let (listener, cart_url, tx, rx) = bound().await;
        let catalogo = cart::catalog::ClientCatalog::new(nodes.clone(), Duration::from_secs(2));
        let state = cart::AppState::new(
            Arc::new(cart::store::MemoryStore::new(cart::store::DEFAULT_TTL)),
            Arc::new(catalogo),
            cart::Limits::default(),
        );
        tokio::spawn(cart::run(listener, state, async move {
            let _ = rx.await;
        }));
        let cart = Running {
            url: cart_url.clone(),
            stop: Some(tx),
        };

        let dir = tempfile::tempdir().unwrap();
        let mut oc = orders::config::Config::with_data_dir(dir.path()).unwrap();
        oc.catalog_nodes = nodes.clone();
        oc.cart_url = cart_url.clone();
        oc.jwt_secret = Secret::new(TEST_JWT_SECRET);
        oc.redis_url = "".parse().unwrap();
        let (listener, orders_url, tx, rx) = bound().await;
        tokio::spawn(orders::run(listener, oc, async move {
            let _ = rx.await;
        }));
        let orders = Running {
            url: orders_url.clone(),
            stop: Some(tx),
        };

        let gateway = TestGateway::start(&config(nodes.clone(), &cart_url, &orders_url)).await;
        let shop = Self {
            cluster,
            cart,
            orders,
            gateway,
            admin,
            _orders_dir: dir,
        };
        let ready = shop.gateway.at("/ready");
        assert!(
            eventually(Duration::from_secs(10), || {
                let ready = ready.clone();
                async move {
                    try_call(Method::GET, &ready, &[], "")
                        .await
                        .is_ok_and(|a| a.status == StatusCode::OK)
                }
            })
            .await,
            "the gateway never got ready"
        );
        shop
    }
}
