//! HTTP/1 requests with a deadline, generic over the connector.
//!
//! Every call takes a deadline; nothing here waits without one. Errors tell apart a request
//! that never left (connect failed: safe to send elsewhere) from one whose outcome is unknown.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// Largest response body read, to bound memory on a misbehaving peer.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The connection could not be made: the request was never sent.
    #[error("connect to {0} failed")]
    Connect(String),
    /// The deadline passed; the request may or may not have been processed.
    #[error("deadline exceeded")]
    Timeout,
    /// The connection broke after the request may have been sent.
    #[error("request failed: {0}")]
    Io(String),
    /// The URL or request could not be built.
    #[error("bad request: {0}")]
    Build(String),
}

impl TransportError {
    /// True when the peer certainly did not receive the request.
    pub fn never_sent(&self) -> bool {
        matches!(self, TransportError::Connect(_) | TransportError::Build(_))
    }
}

/// A response read whole.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl Response {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A pooled HTTP/1 client over connector `C`, and an unpooled one for requests that must
/// open a connection of their own ([`HttpSend::send_fresh`]).
#[derive(Debug, Clone)]
pub struct Transport<C = HttpConnector> {
    client: Client<C, Full<Bytes>>,
    fresh: Client<C, Full<Bytes>>,
}

impl Transport<HttpConnector> {
    /// Plain TCP, with `TCP_NODELAY` and a short connect timeout.
    pub fn http() -> Self {
        let mut c = HttpConnector::new();
        c.set_nodelay(true);
        c.set_connect_timeout(Some(Duration::from_millis(500)));
        Self::new(c)
    }
}

impl<C> Transport<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    /// A client over `connector`.
    pub fn new(connector: C) -> Self {
        // The pool measures idle time with the timer it is given, and with the real clock
        // when it has none: tokio's timer keeps it on the runtime's clock, which a
        // simulation controls.
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build(connector.clone());
        let fresh = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        Self { client, fresh }
    }

    /// Sends `method url` with `headers` and an optional body, and reads the whole response,
    /// all within `deadline`.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
        deadline: Duration,
    ) -> Result<Response, TransportError> {
        self.send_with(&self.client, method, url, headers, body, deadline)
            .await
    }

    async fn send_with(
        &self,
        client: &Client<C, Full<Bytes>>,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
        deadline: Duration,
    ) -> Result<Response, TransportError> {
        let mut req = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| TransportError::Build(e.to_string()))?;
        let host = url.to_owned();
        let fut = async {
            let resp = client.request(req).await.map_err(|e| {
                if e.is_connect() {
                    TransportError::Connect(host)
                } else {
                    TransportError::Io(e.to_string())
                }
            })?;
            let (parts, body) = resp.into_parts();
            let limited = http_body_util::Limited::new(body, MAX_RESPONSE_BYTES);
            let body = limited
                .collect()
                .await
                .map_err(|e| TransportError::Io(e.to_string()))?
                .to_bytes();
            Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(deadline, fut)
            .await
            .map_err(|_| TransportError::Timeout)?
    }
}

/// A boxed future, for the object-safe [`HttpSend`].
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// An object-safe view of a [`Transport`], so servers can hold one without being generic
/// over its connector.
pub trait HttpSend: Send + Sync + std::fmt::Debug {
    /// Like [`Transport::send`], with owned arguments.
    fn send_owned(
        &self,
        method: Method,
        url: String,
        headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
        deadline: Duration,
    ) -> BoxFuture<Result<Response, TransportError>>;

    /// Like [`HttpSend::send_owned`], on a connection opened for this request alone, never a
    /// pooled one: a refused connection then says that nothing listens at `url` any more
    /// (a pooled connection to a killed process may instead hang until the deadline).
    fn send_fresh(
        &self,
        method: Method,
        url: String,
        headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
        deadline: Duration,
    ) -> BoxFuture<Result<Response, TransportError>> {
        self.send_owned(method, url, headers, body, deadline)
    }
}

impl<C> HttpSend for Transport<C>
where
    C: Connect + Clone + Send + Sync + std::fmt::Debug + 'static,
{
    fn send_owned(
        &self,
        method: Method,
        url: String,
        headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
        deadline: Duration,
    ) -> BoxFuture<Result<Response, TransportError>> {
        self.send_boxed(false, method, url, headers, body, deadline)
    }

    fn send_fresh(
        &self,
        method: Method,
        url: String,
        headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
        deadline: Duration,
    ) -> BoxFuture<Result<Response, TransportError>> {
        self.send_boxed(true, method, url, headers, body, deadline)
    }
}

impl<C> Transport<C>
where
    C: Connect + Clone + Send + Sync + std::fmt::Debug + 'static,
{
    /// One owned request as a boxed future, on the pooled client or (`fresh`) a new connection.
    fn send_boxed(
        &self,
        fresh: bool,
        method: Method,
        url: String,
        headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
        deadline: Duration,
    ) -> BoxFuture<Result<Response, TransportError>> {
        let this = self.clone();
        Box::pin(async move {
            let h: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let client = if fresh { &this.fresh } else { &this.client };
            this.send_with(client, method, &url, &h, body, deadline)
                .await
        })
    }
}
