//! Against fake nodes that accept a request and hang up without answering: a non-idempotent
//! write is never sent twice, an idempotent one is retried; and the client runs over any
//! connector.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use confeitaria_client::{CallPolicy, CatalogClient, ClientError, Transport};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// A node that reads each request and closes the connection without an answer; counts the
/// writes (`PUT`) among them.
async fn hang_up_node() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                if matches!(sock.read(&mut buf).await, Ok(n) if buf[..n].starts_with(b"PUT ")) {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    (addr, seen)
}

fn short() -> CallPolicy {
    CallPolicy {
        deadline: Duration::from_millis(800),
        attempt: Duration::from_millis(200),
        backoff: Duration::from_millis(10),
    }
}

#[tokio::test]
async fn a_non_idempotent_write_is_never_resent_once_it_may_have_arrived() {
    let (addr, seen) = hang_up_node().await;
    let client = CatalogClient::new(vec![addr]).with_policy(short());
    let r = client.adjust_estoque(1, 5).await;
    assert!(
        matches!(&r, Err(ClientError::Unavailable(m)) if m.contains("outcome unknown")),
        "{r:?}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1, "sent exactly once");
}

#[tokio::test]
async fn an_idempotent_write_is_retried_until_its_deadline() {
    let (addr, seen) = hang_up_node().await;
    let client = CatalogClient::new(vec![addr]).with_policy(short());
    let started = tokio::time::Instant::now();
    let r = client.set_estoque(1, 5).await;
    assert!(matches!(r, Err(ClientError::Unavailable(_))), "{r:?}");
    assert!(seen.load(Ordering::SeqCst) >= 2, "retried");
    assert!(
        started.elapsed() < Duration::from_millis(800 + 300),
        "kept its deadline"
    );
}

#[tokio::test]
async fn a_write_moves_on_to_the_next_node_when_the_first_refuses_connections() {
    // A port that was just free: connecting to it is refused, so the write never left.
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().to_string()
    };
    let (addr, seen) = hang_up_node().await;
    let client = CatalogClient::new(vec![refused, addr]).with_policy(short());
    let _ = client.adjust_estoque(1, 5).await;
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "reached the second node once"
    );
}

/// A connector that counts connections: the client takes any hyper connector.
#[derive(Clone, Debug)]
struct Counting {
    inner: hyper_util::client::legacy::connect::HttpConnector,
    made: Arc<AtomicUsize>,
}

impl tower::Service<http::Uri> for Counting {
    type Response =
        <hyper_util::client::legacy::connect::HttpConnector as tower::Service<http::Uri>>::Response;
    type Error =
        <hyper_util::client::legacy::connect::HttpConnector as tower::Service<http::Uri>>::Error;
    type Future =
        <hyper_util::client::legacy::connect::HttpConnector as tower::Service<http::Uri>>::Future;
    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }
    fn call(&mut self, uri: http::Uri) -> Self::Future {
        self.made.fetch_add(1, Ordering::SeqCst);
        self.inner.call(uri)
    }
}

#[tokio::test]
async fn the_client_runs_over_any_connector() {
    let (addr, _) = hang_up_node().await;
    let made = Arc::new(AtomicUsize::new(0));
    let connector = Counting {
        inner: hyper_util::client::legacy::connect::HttpConnector::new(),
        made: made.clone(),
    };
    let client =
        CatalogClient::with_transport(vec![addr], Transport::new(connector)).with_policy(short());
    let _ = client.adjust_estoque(1, 1).await;
    // One connection to discover the cluster, one for the write.
    assert_eq!(made.load(Ordering::SeqCst), 2);
}
