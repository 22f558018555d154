//! An in-process shop behind the storefront: a catalog cluster, the real cart (over a memory
//! store that a test can take down, as if Redis died), the real orders service, a tiny
//! forwarding router standing in for the gateway's `/api` routes, and the storefront served
//! on a loopback port. [`Browser`] keeps cookies and posts forms like a browser would.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use cart::catalog::{Catalog, CatalogError};
use cart::session::SessionId;
use cart::store::{
    AddRefusal, Addition, CartSnapshot, CartStore, MemoryStore, Removal, StoreError, DEFAULT_TTL,
};
use catalog_node::testing::{TestCluster, TEST_JWT_SECRET};
use confeitaria_client::config::Secret;
use confeitaria_client::transport::Transport;
use confeitaria_client::{CatalogClient, ClientError, Consistency};
use confeitaria_types::auth::{self, TokenRole};
use confeitaria_types::Doce;
use futures::future::{BoxFuture, FutureExt};
use scraper::{ElementRef, Html, Selector};
use tempfile::TempDir;
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

/// The cart's catalog look-ups, answered by any node's replica.
struct CatalogoReal(CatalogClient);

impl Catalog for CatalogoReal {
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

/// The cart's memory store, with a switch that makes every call fail as a dead Redis does.
pub struct FlakyStore {
    inner: MemoryStore,
    /// When set, every call answers `Unavailable`.
    pub down: AtomicBool,
}

impl FlakyStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("connection refused (test)".into()))
        } else {
            Ok(())
        }
    }
}

impl CartStore for FlakyStore {
    fn add<'a>(
        &'a self,
        session: &'a SessionId,
        adicao: Addition,
    ) -> BoxFuture<'a, Result<Result<CartSnapshot, AddRefusal>, StoreError>> {
        async move {
            self.check()?;
            self.inner.add(session, adicao).await
        }
        .boxed()
    }
    fn remove<'a>(
        &'a self,
        session: &'a SessionId,
        doce_id: u64,
    ) -> BoxFuture<'a, Result<Removal, StoreError>> {
        async move {
            self.check()?;
            self.inner.remove(session, doce_id).await
        }
        .boxed()
    }
    fn get<'a>(
        &'a self,
        session: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<CartSnapshot>, StoreError>> {
        async move {
            self.check()?;
            self.inner.get(session).await
        }
        .boxed()
    }
    fn delete<'a>(&'a self, session: &'a SessionId) -> BoxFuture<'a, Result<bool, StoreError>> {
        async move {
            self.check()?;
            self.inner.delete(session).await
        }
        .boxed()
    }
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        async move { self.check() }.boxed()
    }
    fn kind(&self) -> &'static str {
        "memory"
    }
}

/// Serves `router` on a free loopback port until the returned sender is dropped.
async fn serve(router: Router) -> (String, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
            .ok();
    });
    (url, tx)
}

/// Where the forwarder sends each path.
#[derive(Clone)]
struct Upstreams {
    catalog: Vec<String>,
    cart: String,
    orders: String,
    /// Whether the API offers orders' own event stream (`/api/pedidos/{id}/eventos/stream`).
    stream: bool,
    http: Transport,
}

/// The gateway's `/api` routing, reduced to what the storefront's tests need: carts to the
/// cart, orders to orders, the rest to the first catalog node that accepts a connection.
async fn forward(State(up): State<Upstreams>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    if !up.stream && parts.uri.path().ends_with("/eventos/stream") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let targets: Vec<String> = if path.starts_with("/api/carrinho") {
        vec![up.cart.clone()]
    } else if path.starts_with("/api/pedidos") {
        vec![up.orders.clone()]
    } else {
        up.catalog.iter().map(|a| format!("http://{a}")).collect()
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "authorization" | "x-session-id" | "idempotency-key" | "last-event-id"
            )
        })
        .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned())))
        .collect();
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body = (!body.is_empty()).then(|| body.to_vec());
    for base in targets {
        let url = format!("{base}{path}");
        match up
            .http
            .send(
                parts.method.clone(),
                &url,
                &h,
                body.clone(),
                Duration::from_secs(10),
            )
            .await
        {
            Ok(r) => {
                let mut out = (r.status, r.body).into_response();
                for (k, v) in r.headers.iter() {
                    if k != "content-length" && k != "transfer-encoding" && k != "connection" {
                        out.headers_mut().insert(k.clone(), v.clone());
                    }
                }
                return out;
            }
            Err(e) if e.never_sent() => continue,
            Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
        }
    }
    StatusCode::BAD_GATEWAY.into_response()
}

/// The whole shop, with the storefront in front.
pub struct Shop {
    /// The catalog cluster.
    pub cluster: TestCluster,
    /// The cart's store.
    pub store: Arc<FlakyStore>,
    /// The forwarder (`/api/...`).
    pub api: String,
    /// The storefront.
    pub url: String,
    /// The orders service's state.
    pub orders: orders::AppState,
    stops: Vec<oneshot::Sender<()>>,
    _dir: TempDir,
}

impl Shop {
    /// A shop over a catalog of `nodes` nodes.
    pub async fn start(nodes: u64) -> Self {
        Self::start_with(nodes, true).await
    }

    /// A shop over a catalog of `nodes` nodes; `stream`: whether its API offers orders'
    /// own event stream (the storefront then relays it instead of polling).
    pub async fn start_with(nodes: u64, stream: bool) -> Self {
        let cluster = TestCluster::spawn(nodes).await;
        cluster.wait_leader(Duration::from_secs(10)).await;
        let mut stops = Vec::new();

        let store = Arc::new(FlakyStore {
            inner: MemoryStore::new(DEFAULT_TTL),
            down: AtomicBool::new(false),
        });
        let cart_state = cart::AppState::new(
            store.clone(),
            Arc::new(CatalogoReal(CatalogClient::new(cluster.api_addrs()))),
            cart::Limits::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cart_url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(cart::run(listener, cart_state, async move {
            let _ = rx.await;
        }));
        stops.push(tx);

        let dir = TempDir::new().unwrap();
        let mut c = orders::config::Config::with_data_dir(dir.path().join("orders")).unwrap();
        c.catalog_nodes = cluster.api_addrs();
        c.cart_url = cart_url.clone();
        c.jwt_secret = Secret::new(TEST_JWT_SECRET);
        c.redis_url = "".parse().unwrap();
        c.recovery_interval_ms = 200;
        c.catalog_timeout_ms = 1500;
        let app = orders::App::open(c).unwrap();
        let orders_state = app.state.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let orders_url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.serve(listener, async move {
            let _ = rx.await;
        }));
        stops.push(tx);

        let up = Upstreams {
            catalog: cluster.api_addrs(),
            cart: cart_url,
            orders: orders_url,
            stream,
            http: Transport::http(),
        };
        let (api, tx) = serve(Router::new().fallback(forward).with_state(up)).await;
        stops.push(tx);

        let cfg = storefront::Config::new(api.clone());
        let (url, tx) = serve(storefront::router(cfg)).await;
        stops.push(tx);
        Self {
            cluster,
            store,
            api,
            url,
            orders: orders_state,
            stops,
            _dir: dir,
        }
    }

    /// An admin client of the catalog.
    pub fn catalog_admin(&self) -> CatalogClient {
        CatalogClient::new(self.cluster.api_addrs()).with_token(token(TokenRole::Admin))
    }

    /// A new browser (no cookies) on the storefront.
    pub fn browser(&self) -> Browser {
        Browser {
            base: self.url.clone(),
            cookies: BTreeMap::new(),
            http: Transport::http(),
        }
    }

    /// One JSON call to the API (through the forwarder).
    pub async fn api_call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let r = Transport::http()
            .send(
                method,
                &format!("{}{path}", self.api),
                headers,
                body.map(|b| serde_json::to_vec(&b).unwrap()),
                Duration::from_secs(20),
            )
            .await
            .unwrap();
        let v = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
        (r.status, v)
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        for tx in self.stops.drain(..) {
            let _ = tx.send(());
        }
    }
}

/// A page as the browser got it.
pub struct Page {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body text.
    pub body: String,
}

impl Page {
    /// The parsed document.
    pub fn html(&self) -> Html {
        Html::parse_document(&self.body)
    }

    /// `Location`, for a redirect.
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Every `Set-Cookie` value.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }
}

/// The elements matching `css`.
pub fn select<'a>(doc: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    let sel = Selector::parse(css).unwrap_or_else(|e| panic!("bad selector {css}: {e:?}"));
    doc.select(&sel).collect()
}

/// The text of the first element matching `css` (panics if none).
pub fn text(doc: &Html, css: &str) -> String {
    let all = select(doc, css);
    let first = all
        .first()
        .unwrap_or_else(|| panic!("no element matches {css}"));
    first.text().collect::<String>().trim().to_owned()
}

/// The attribute `attr` of the first element matching `css`.
pub fn attr(doc: &Html, css: &str, attr: &str) -> String {
    let all = select(doc, css);
    let first = all
        .first()
        .unwrap_or_else(|| panic!("no element matches {css}"));
    first.value().attr(attr).unwrap_or_default().to_owned()
}

/// A cookie-keeping client that does not follow redirects.
pub struct Browser {
    base: String,
    /// Cookies by name.
    pub cookies: BTreeMap<String, String>,
    http: Transport,
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl Browser {
    async fn request(&mut self, method: Method, path: &str, form: Option<&[(&str, &str)]>) -> Page {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut headers = vec![];
        if !cookie.is_empty() {
            headers.push(("cookie", cookie.as_str()));
        }
        let body = form.map(|f| {
            f.iter()
                .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes()
        });
        // Transport labels bodies as JSON; a form post needs its own content type, which
        // the request builder lets a later header override.
        let url = format!("{}{path}", self.base);
        let r = if let Some(body) = body {
            form_post(&url, &headers, body).await
        } else {
            self.http
                .send(method, &url, &headers, None, Duration::from_secs(30))
                .await
                .unwrap()
        };
        for v in r.headers.get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (k, val) = pair.split_once('=').unwrap();
            if v.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
        Page {
            status: r.status,
            headers: r.headers,
            body: String::from_utf8_lossy(&r.body).into_owned(),
        }
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> Page {
        self.request(Method::GET, path, None).await
    }

    /// `POST path` with an urlencoded form.
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.request(Method::POST, path, Some(form)).await
    }

    /// The CSRF token of the page at `path` (its first form's).
    pub async fn csrf(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        attr(&page.html(), "input[name=csrf]", "value")
    }

    /// Another browser window with the same cookies.
    pub fn window(&self) -> Browser {
        Browser {
            base: self.base.clone(),
            cookies: self.cookies.clone(),
            http: Transport::http(),
        }
    }

    /// The session cookie.
    pub fn session(&self) -> String {
        self.cookies.get("sessao").cloned().unwrap_or_default()
    }
}

/// A form POST with `application/x-www-form-urlencoded`, read whole, within 30 s.
async fn form_post(
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> confeitaria_client::transport::Response {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::builder()
        .method(Method::POST)
        .uri(url)
        .header("content-type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        req = req.header(*k, HeaderValue::from_str(v).unwrap());
    }
    let req = req.body(Full::new(Bytes::from(body))).unwrap();
    let fut = async {
        let resp = client.request(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        confeitaria_client::transport::Response {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    };
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("form post within 30 s")
}

/// Reads a Server-Sent Events response from `url` (with `cookie`) until its text contains
/// `needle` or `deadline` passes; the status, content type and text read so far.
pub async fn read_sse_until(
    url: &str,
    cookie: &str,
    needle: &str,
    deadline: Duration,
) -> (StatusCode, String, String) {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = http::Request::builder()
        .uri(url)
        .header("cookie", cookie)
        .body(Empty::new())
        .unwrap();
    let resp = tokio::time::timeout(deadline, client.request(req))
        .await
        .expect("stream answers in time")
        .unwrap();
    let status = resp.status();
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut body = resp.into_body();
    let mut text = String::new();
    let until = tokio::time::Instant::now() + deadline;
    while !text.contains(needle) {
        match tokio::time::timeout_at(until, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    text.push_str(&String::from_utf8_lossy(d));
                }
            }
            _ => break,
        }
    }
    (status, kind, text)
}
