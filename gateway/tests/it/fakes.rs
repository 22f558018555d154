//! Fake upstreams: small axum servers that echo, fail, stall or stream as a test needs, and
//! count what reached them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// What a fake answers, given the request's method, path and query, headers and body.
pub type Behaviour =
    Arc<dyn Fn(String, String, HeaderMap, Bytes) -> BoxFuture<'static, Response> + Send + Sync>;

#[derive(Clone)]
struct St {
    hits: Arc<AtomicUsize>,
    behaviour: Behaviour,
}

/// A fake upstream on a loopback port; `hits` counts requests other than probes.
pub struct Fake {
    pub addr: String,
    pub hits: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
}

impl Fake {
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let hits = Arc::new(AtomicUsize::new(0));
        let st = St {
            hits: hits.clone(),
            behaviour,
        };
        let app = Router::new().fallback(handle).with_state(st);
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            addr,
            hits,
            stop: Some(tx),
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

async fn handle(State(st): State<St>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // The gateway's active probes are not requests of the test.
    if !matches!(
        parts.uri.path(),
        "/cluster/status" | "/cluster/members" | "/health"
    ) {
        st.hits.fetch_add(1, Ordering::SeqCst);
    }
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let pq = parts
        .uri
        .path_and_query()
        .map_or("/".to_owned(), |p| p.to_string());
    (st.behaviour)(parts.method.to_string(), pq, parts.headers, body).await
}

/// Answers 200 with what it received as JSON, and a few headers to pass back.
pub fn echo() -> Behaviour {
    Arc::new(|method, pq, headers, body| {
        Box::pin(async move {
            let mut h = Map::new();
            for (k, v) in &headers {
                h.insert(
                    k.as_str().to_owned(),
                    Value::String(v.to_str().unwrap_or("?").to_owned()),
                );
            }
            let v = json!({
                "method": method, "path": pq, "headers": h,
                "body": String::from_utf8_lossy(&body)
            });
            (
                StatusCode::OK,
                [
                    ("x-served-by", "7"),
                    ("x-raft-leader", "7"),
                    ("x-session-id", "s-from-upstream"),
                    ("x-custom", "kept"),
                ],
                axum::Json(v),
            )
                .into_response()
        })
    })
}

/// Always `status` with `body` and `Retry-After: 7`.
pub fn fixed(status: u16, body: &'static str) -> Behaviour {
    Arc::new(move |_, _, _, _| {
        Box::pin(async move {
            let mut r = Response::new(Body::from(body));
            *r.status_mut() = StatusCode::from_u16(status).unwrap();
            r.headers_mut().insert("retry-after", "7".parse().unwrap());
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            r
        })
    })
}

/// Waits `delay`, then echoes.
pub fn slow(delay: Duration) -> Behaviour {
    let inner = echo();
    Arc::new(move |m, p, h, b| {
        let inner = inner.clone();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            inner(m, p, h, b).await
        })
    })
}

/// A dead address: nothing listens there.
pub async fn dead_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap().to_string();
    drop(l);
    a
}
