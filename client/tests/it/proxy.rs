//! [`Proxy`]: a TCP forwarder in front of a node that a test can take down (listener closed,
//! open connections cut: the client sees connection refused) and bring back on the same
//! port, without stopping the node behind it.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A forwarder from a local port to `target`.
pub struct Proxy {
    addr: SocketAddr,
    target: String,
    task: Option<JoinHandle<()>>,
}

async fn serve(listener: TcpListener, target: String) {
    // Dropping this set (when the task is aborted) cuts every forwarded connection.
    let mut conns = JoinSet::new();
    while let Ok((mut inbound, _)) = listener.accept().await {
        let target = target.clone();
        conns.spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(&target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
        while conns.try_join_next().is_some() {}
    }
}

impl Proxy {
    /// A proxy on a free port, forwarding to `target`.
    pub async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = Some(tokio::spawn(serve(listener, target.clone())));
        Proxy { addr, target, task }
    }

    /// Its `host:port`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Refuses connections and cuts the open ones, until [`Proxy::up`].
    pub async fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Listens again on the same port.
    pub async fn up(&mut self) {
        let end = tokio::time::Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) => {
                    assert!(
                        tokio::time::Instant::now() < end,
                        "rebinding {}: {e}",
                        self.addr
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        self.task = Some(tokio::spawn(serve(listener, self.target.clone())));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
