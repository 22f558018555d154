//! The client side of the RPC port: bodies in the Raft encoding ([`raft_store::codec`]) over
//! the HTTP transport, with the cluster secret on
//! every request and a deadline on every call.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use confeitaria_client::config::Secret;
use confeitaria_client::transport::{HttpSend, TransportError};
use raft_store::codec;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::wire::SECRET_HEADER;

/// Why an RPC failed, from the caller's side.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The request never reached the peer.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The request may have reached the peer; the outcome is unknown.
    #[error("no answer: {0}")]
    NoAnswer(String),
    /// The peer answered with an error status.
    #[error("peer answered {0}")]
    Status(StatusCode),
}

/// Client side of the RPC port: an HTTP transport plus the secret.
#[derive(Debug, Clone)]
pub struct RpcClient {
    http: Arc<dyn HttpSend>,
    secret: Secret,
}

impl RpcClient {
    /// A client sending through `http` with `secret`.
    pub fn new(http: Arc<dyn HttpSend>, secret: Secret) -> Self {
        Self { http, secret }
    }

    /// POSTs `req`, encoded, to `http://{addr}{path}` (a [`super::wire::route`]) and decodes
    /// the answer, within `deadline`.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        req: &Req,
        deadline: Duration,
    ) -> Result<Resp, RpcError> {
        self.call_on(false, addr, path, req, deadline).await
    }

    /// [`RpcClient::call`] on a connection of its own (see [`HttpSend::send_fresh`]), so
    /// that [`RpcError::Unreachable`] means the peer's port refused the connection.
    pub async fn call_fresh<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        req: &Req,
        deadline: Duration,
    ) -> Result<Resp, RpcError> {
        self.call_on(true, addr, path, req, deadline).await
    }

    async fn call_on<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        fresh: bool,
        addr: &str,
        path: &str,
        req: &Req,
        deadline: Duration,
    ) -> Result<Resp, RpcError> {
        let body = codec::encode(req).map_err(|e| RpcError::Unreachable(e.to_string()))?;
        let secret = String::from_utf8_lossy(self.secret.expose()).into_owned();
        let url = format!("http://{addr}{path}");
        let headers = vec![(SECRET_HEADER.to_owned(), secret)];
        let send = if fresh {
            self.http
                .send_fresh(Method::POST, url, headers, Some(body), deadline)
        } else {
            self.http
                .send_owned(Method::POST, url, headers, Some(body), deadline)
        };
        let resp = send.await.map_err(|e| match e {
            TransportError::Connect(_) | TransportError::Build(_) => {
                RpcError::Unreachable(e.to_string())
            }
            _ => RpcError::NoAnswer(e.to_string()),
        })?;
        if !resp.status.is_success() {
            return Err(RpcError::Status(resp.status));
        }
        codec::decode(&resp.body).map_err(|e| RpcError::NoAnswer(e.to_string()))
    }
}
