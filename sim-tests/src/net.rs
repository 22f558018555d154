//! turmoil's simulated sockets, shaped for the real node and client code.
//!
//! - [`SimListener`]: an [`axum::serve::Listener`] over [`turmoil::net::TcpListener`], so a
//!   node's API and RPC servers run unchanged on the simulated network;
//! - [`SimConnector`]: a hyper-util connector (`tower::Service<Uri>`) that opens
//!   [`turmoil::net::TcpStream`]s, so [`confeitaria_client::Transport`] — and through it the
//!   node's Raft RPC, its forwarding and the catalog client — talks over the same network.
//!
//! Simulated TCP never retransmits. A SYN sent into a partition fails the connect at once
//! (turmoil drops it with its reply channel), but one sent over a held or slow link just
//! waits, so the connector puts its own deadline on connecting; a connect that times out is
//! reported as a connect error, which callers rightly read as "the request never left".

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A simulated listener that axum can serve on.
pub struct SimListener(turmoil::net::TcpListener);

impl std::fmt::Debug for SimListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SimListener")
            .field(&self.0.local_addr().ok())
            .finish()
    }
}

impl SimListener {
    /// Binds `0.0.0.0:port` on the current simulated host.
    pub async fn bind(port: u16) -> io::Result<Self> {
        turmoil::net::TcpListener::bind(("0.0.0.0", port))
            .await
            .map(Self)
    }
}

impl axum::serve::Listener for SimListener {
    type Io = turmoil::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok(pair) => return pair,
                // As axum does for real sockets: log, pause, keep serving.
                Err(e) => {
                    tracing::debug!(error = %e, "simulated accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A simulated TCP stream that hyper-util accepts as a client connection.
#[derive(Debug)]
pub struct SimStream(turmoil::net::TcpStream);

impl AsyncRead for SimStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl Connection for SimStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// Opens simulated TCP connections for hyper-util's client, within a connect deadline.
#[derive(Debug, Clone, Copy)]
pub struct SimConnector {
    connect_timeout: Duration,
}

impl Default for SimConnector {
    /// The same connect deadline as [`confeitaria_client::Transport::http`].
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_millis(500),
        }
    }
}

impl SimConnector {
    /// A connector giving up on a connection after `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Self {
        Self { connect_timeout }
    }
}

/// The future of one connect.
pub type ConnectFuture =
    Pin<Box<dyn Future<Output = io::Result<TokioIo<SimStream>>> + Send + 'static>>;

impl tower::Service<Uri> for SimConnector {
    type Response = TokioIo<SimStream>;
    type Error = io::Error;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let timeout = self.connect_timeout;
        Box::pin(async move {
            let authority = uri
                .authority()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "uri has no host"))?
                .as_str()
                .to_owned();
            match tokio::time::timeout(timeout, turmoil::net::TcpStream::connect(authority)).await {
                Ok(stream) => Ok(TokioIo::new(SimStream(stream?))),
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
            }
        })
    }
}
