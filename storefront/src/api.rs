//! The shop's JSON API (DESIGN.md "API": catalog, cart, orders) as the storefront calls it.
//!
//! Calls go through the workspace's hyper-util client ([`Transport`]), the one the services
//! already use: no second HTTP stack to build, and every call carries a deadline. Shopper
//! reads of the catalog ask for `consistency=local`, so browsing works from any live node
//! even while the catalog has no leader; the admin reads its own writes (linearizable).

use std::time::Duration;

use bytes::Bytes;
use confeitaria_client::transport::{Transport, TransportError};
use confeitaria_types::cart::{AdicionarItem, Carrinho};
use confeitaria_types::orders::{
    AtualizaStatus, EventoPedido, EventosPedido, Pedido, StatusPedido,
};
use confeitaria_types::{
    AtualizaDoce, Categoria, Doce, ErrorBody, EstoqueDetalhe, NovoDoce, PaginaDoces,
};
use http::{Method, StatusCode};
use http_body_util::Empty;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Page size asked of `GET /api/produtos` when the whole catalog is listed.
const LIST_PAGE: u64 = 100;
/// At most this many pages are read: the vitrine shows at most 1000 products.
const LIST_PAGES: u64 = 10;

/// Why an API call gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No answer in time, a broken connection, or a 5xx: worth trying again in a moment.
    #[error("upstream unavailable: {0}")]
    Unavailable(String),
    /// A 4xx, with the error body's code and message.
    #[error("refused ({status}): {code}")]
    Refused {
        /// The status.
        status: StatusCode,
        /// The error body's `code` (empty if the body had none).
        code: String,
        /// The error body's `message`.
        message: String,
    },
}

impl ApiError {
    /// A 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Refused { status, .. } if *status == StatusCode::NOT_FOUND)
    }

    /// A 401 or 403: the admin token is missing, expired or not an admin's.
    pub fn is_auth(&self) -> bool {
        matches!(self, ApiError::Refused { status, .. }
            if *status == StatusCode::UNAUTHORIZED || *status == StatusCode::FORBIDDEN)
    }

    /// The error code (`"unavailable"` for a call that got no answer).
    pub fn code(&self) -> &str {
        match self {
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Refused { code, .. } => code,
        }
    }
}

/// Who reads an order: its owner's session, or an admin.
#[derive(Debug, Clone, Copy)]
pub enum Reader<'a> {
    /// The session that checked the order out.
    Session(&'a str),
    /// An admin's JWT.
    Admin(&'a str),
}

/// The API at one base URL.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    http: Transport,
    /// For streams, whose bodies are passed on as they come rather than read whole.
    streams: Client<HttpConnector, Empty<Bytes>>,
    deadline: Duration,
}

impl Api {
    /// Calls `base` (e.g. `http://127.0.0.1:8000`), each call bounded by `deadline`.
    pub fn new(base: &str, deadline: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(deadline));
        let streams = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: Transport::http(),
            streams,
            deadline,
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The deadline of one call.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<confeitaria_client::transport::Response, ApiError> {
        let url = format!("{}{path}", self.base);
        let r = self
            .http
            .send(method, &url, headers, body, self.deadline)
            .await
            .map_err(|e| match e {
                TransportError::Timeout => ApiError::Unavailable("deadline exceeded".into()),
                other => ApiError::Unavailable(other.to_string()),
            })?;
        if r.status.is_success() {
            return Ok(r);
        }
        let detail = serde_json::from_slice::<ErrorBody>(&r.body).ok();
        let (code, message) = detail
            .map(|d| (d.error.code, d.error.message))
            .unwrap_or_default();
        if r.status.is_server_error() {
            return Err(ApiError::Unavailable(format!("{} {code}", r.status)));
        }
        Err(ApiError::Refused {
            status: r.status,
            code,
            message,
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<T, ApiError> {
        let r = self.send(method, path, headers, body).await?;
        serde_json::from_slice(&r.body)
            .map_err(|e| ApiError::Unavailable(format!("unexpected answer from {path}: {e}")))
    }

    fn body<T: Serialize>(value: &T) -> Option<Vec<u8>> {
        serde_json::to_vec(value).ok()
    }

    /// Opens a Server-Sent Events stream: its body, once the API has answered `200
    /// text/event-stream` within the deadline (the body itself then flows for as long as
    /// the API keeps it open).
    pub async fn sse(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<hyper::body::Incoming, ApiError> {
        let mut req = http::Request::builder()
            .method(Method::GET)
            .uri(format!("{}{path}", self.base))
            .header(http::header::ACCEPT, "text/event-stream");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Empty::new())
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let resp = tokio::time::timeout(self.deadline, self.streams.request(req))
            .await
            .map_err(|_| ApiError::Unavailable("deadline exceeded".into()))?
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let is_sse = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !resp.status().is_success() || !is_sse {
            return Err(ApiError::Refused {
                status: resp.status(),
                code: "no_stream".into(),
                message: String::new(),
            });
        }
        Ok(resp.into_body())
    }

    // --- catalog ------------------------------------------------------------------------

    /// Every category (any node's replica).
    pub async fn categorias(&self) -> Result<Vec<Categoria>, ApiError> {
        self.json(Method::GET, "/api/categorias?consistency=local", &[], None)
            .await
    }

    /// Every product, active or not, by id (any node's replica, or through the leader when
    /// `linearizable`), at most `LIST_PAGE * LIST_PAGES`.
    pub async fn produtos(&self, linearizable: bool) -> Result<Vec<Doce>, ApiError> {
        let level = if linearizable {
            ""
        } else {
            "&consistency=local"
        };
        let mut all = Vec::new();
        for page in 0..LIST_PAGES {
            let path = format!(
                "/api/produtos?limit={LIST_PAGE}&offset={}{level}",
                page * LIST_PAGE
            );
            let p: PaginaDoces = self.json(Method::GET, &path, &[], None).await?;
            let got = p.produtos.len() as u64;
            all.extend(p.produtos);
            if got < LIST_PAGE || all.len() as u64 >= p.total {
                break;
            }
        }
        Ok(all)
    }

    /// The products of one category (any node's replica).
    pub async fn por_categoria(&self, slug: &str) -> Result<Vec<Doce>, ApiError> {
        let path = format!(
            "/api/produtos/categoria/{}?consistency=local",
            path_segment(slug)
        );
        self.json(Method::GET, &path, &[], None).await
    }

    /// One product (any node's replica, or through the leader when `linearizable`).
    pub async fn doce(&self, id: u64, linearizable: bool) -> Result<Doce, ApiError> {
        let level = if linearizable {
            ""
        } else {
            "?consistency=local"
        };
        self.json(
            Method::GET,
            &format!("/api/produtos/{id}{level}"),
            &[],
            None,
        )
        .await
    }

    /// The stock counters of one product, through the leader (admin).
    pub async fn estoque(&self, id: u64) -> Result<EstoqueDetalhe, ApiError> {
        self.json(
            Method::GET,
            &format!("/api/produtos/{id}/estoque"),
            &[],
            None,
        )
        .await
    }

    /// `POST /api/produtos` (admin).
    pub async fn criar_doce(&self, token: &str, novo: &NovoDoce) -> Result<Doce, ApiError> {
        let auth = bearer(token);
        let h = [("authorization", auth.as_str())];
        self.json(Method::POST, "/api/produtos", &h, Self::body(novo))
            .await
    }

    /// `PUT /api/produtos/{id}` (admin).
    pub async fn atualizar_doce(
        &self,
        token: &str,
        id: u64,
        mudanca: &AtualizaDoce,
    ) -> Result<(), ApiError> {
        let auth = bearer(token);
        let h = [("authorization", auth.as_str())];
        let path = format!("/api/produtos/{id}");
        self.send(Method::PUT, &path, &h, Self::body(mudanca))
            .await
            .map(|_| ())
    }

    /// `PUT /api/produtos/{id}/estoque {"estoque": n}` (admin).
    pub async fn definir_estoque(
        &self,
        token: &str,
        id: u64,
        estoque: u64,
    ) -> Result<(), ApiError> {
        let auth = bearer(token);
        let h = [("authorization", auth.as_str())];
        let path = format!("/api/produtos/{id}/estoque");
        let body = Self::body(&serde_json::json!({ "estoque": estoque }));
        self.send(Method::PUT, &path, &h, body).await.map(|_| ())
    }

    // --- cart ---------------------------------------------------------------------------

    /// The session's cart; `None` when it has none (never created, expired or emptied).
    pub async fn carrinho(&self, session: &str) -> Result<Option<Carrinho>, ApiError> {
        match self
            .json(Method::GET, &format!("/api/carrinho/{session}"), &[], None)
            .await
        {
            Ok(c) => Ok(Some(c)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Adds `quantidade` units of `doce_id` to the session's cart.
    pub async fn adicionar(
        &self,
        session: &str,
        doce_id: u64,
        quantidade: u64,
    ) -> Result<Carrinho, ApiError> {
        let h = [("x-session-id", session)];
        let body = Self::body(&AdicionarItem {
            doce_id,
            quantidade,
        });
        self.json(Method::POST, "/api/carrinho/adicionar", &h, body)
            .await
    }

    /// Removes the line of `doce_id` from the session's cart.
    pub async fn remover(&self, session: &str, doce_id: u64) -> Result<(), ApiError> {
        let h = [("x-session-id", session)];
        let path = format!("/api/carrinho/remover/{doce_id}");
        self.send(Method::DELETE, &path, &h, None).await.map(|_| ())
    }

    /// Drops the session's cart (a missing cart is not an error).
    pub async fn esvaziar(&self, session: &str) -> Result<(), ApiError> {
        match self
            .send(
                Method::DELETE,
                &format!("/api/carrinho/{session}"),
                &[],
                None,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    // --- orders -------------------------------------------------------------------------

    /// `POST /api/pedidos {session_id}` with `Idempotency-Key: key`: the order, new or the one
    /// this key already made.
    pub async fn checkout(&self, session: &str, key: &str) -> Result<Pedido, ApiError> {
        let h = [("idempotency-key", key)];
        let body = Self::body(&serde_json::json!({ "session_id": session }));
        self.json(Method::POST, "/api/pedidos", &h, body).await
    }

    /// One order, as its owner or an admin sees it.
    pub async fn pedido(&self, id: &str, reader: Reader<'_>) -> Result<Pedido, ApiError> {
        let (auth, h) = reader_header(reader);
        let h = [(h, auth.as_str())];
        self.json(Method::GET, &format!("/api/pedidos/{id}"), &h, None)
            .await
    }

    /// One order's events, oldest first.
    pub async fn eventos(
        &self,
        id: &str,
        reader: Reader<'_>,
    ) -> Result<Vec<EventoPedido>, ApiError> {
        let (auth, h) = reader_header(reader);
        let h = [(h, auth.as_str())];
        let e: EventosPedido = self
            .json(Method::GET, &format!("/api/pedidos/{id}/eventos"), &h, None)
            .await?;
        Ok(e.eventos)
    }

    /// `PUT /api/pedidos/{id}/status` (admin).
    pub async fn mudar_status(
        &self,
        token: &str,
        id: &str,
        status: StatusPedido,
    ) -> Result<Pedido, ApiError> {
        let auth = bearer(token);
        let h = [("authorization", auth.as_str())];
        let body = Self::body(&AtualizaStatus { status });
        self.json(Method::PUT, &format!("/api/pedidos/{id}/status"), &h, body)
            .await
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn reader_header(reader: Reader<'_>) -> (String, &'static str) {
    match reader {
        Reader::Session(s) => (s.to_owned(), "x-session-id"),
        Reader::Admin(t) => (bearer(t), "authorization"),
    }
}

/// `s` made safe for one path segment: anything but `[A-Za-z0-9_-]` percent-encoded.
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
