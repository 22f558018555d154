//! `GET /api/pedidos/{id}/eventos/stream`: a subscriber sees each status change within 1 s,
//! in order, and resumes after an orders restart with `Last-Event-ID`, missing nothing and
//! seeing nothing twice.
//!
//! The client speaks HTTP/1.0, so the server streams the body until it closes (no chunking)
//! and the test reads Server-Sent Events straight off the socket.

use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;

const DOCE: u64 = 1;
/// What the issue allows between a status change and its event reaching a subscriber.
const PRAZO: Duration = Duration::from_secs(1);

/// One Server-Sent Event.
#[derive(Debug)]
struct Evento {
    id: u64,
    event: String,
    data: Value,
}

/// An open event stream.
struct Assinatura {
    conn: TcpStream,
    buf: String,
}

/// Opens the stream of order `id` with `headers`; returns the status and, on 200, the stream.
async fn assinar(base: &str, id: &str, headers: &[(&str, &str)]) -> (u16, Option<Assinatura>) {
    let addr = base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET /api/pedidos/{id}/eventos/stream HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += "\r\n";
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut a = Assinatura {
        conn,
        buf: String::new(),
    };
    let head = tokio::time::timeout(Duration::from_secs(5), a.ate("\r\n\r\n"))
        .await
        .expect("no response head")
        .expect("closed before the head");
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    if status != 200 {
        return (status, None);
    }
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    (status, Some(a))
}

impl Assinatura {
    /// Reads until `sep`; returns what came before it (`None` at end of stream).
    async fn ate(&mut self, sep: &str) -> Option<String> {
        loop {
            if let Some(i) = self.buf.find(sep) {
                let antes = self.buf[..i].to_owned();
                self.buf.drain(..i + sep.len());
                return Some(antes);
            }
            let mut chunk = [0u8; 4096];
            let n = self.conn.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buf += std::str::from_utf8(&chunk[..n]).unwrap();
        }
    }

    /// The next event (keep-alive comments skipped); `None` when the stream ended. Panics if
    /// nothing comes within `prazo`.
    async fn proximo(&mut self, prazo: Duration) -> Option<Evento> {
        let until = Instant::now() + prazo;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let bloco = tokio::time::timeout(left, self.ate("\n\n"))
                .await
                .unwrap_or_else(|_| panic!("no event within {prazo:?}"))?;
            let (mut id, mut event, mut data) = (None, String::new(), String::new());
            for linha in bloco.lines() {
                if let Some(v) = linha.strip_prefix("id:") {
                    id = Some(v.trim().parse().unwrap());
                } else if let Some(v) = linha.strip_prefix("event:") {
                    event = v.trim().to_owned();
                } else if let Some(v) = linha.strip_prefix("data:") {
                    data += v.trim();
                }
            }
            if let Some(id) = id {
                let data = serde_json::from_str(&data).unwrap();
                return Some(Evento { id, event, data });
            }
        }
    }

    /// Reads events until one has `status`; checks each is the next of `ultimo`, and that the
    /// one with `status` came within [`PRAZO`] of `desde`.
    async fn ate_status(&mut self, status: &str, ultimo: &mut u64, desde: Instant) {
        loop {
            let e = self.proximo(PRAZO).await.expect("the stream ended");
            assert_eq!(e.id, *ultimo + 1, "events out of order or repeated: {e:?}");
            assert_eq!(e.event, "pedido");
            assert_eq!(e.data["seq"], e.id);
            *ultimo = e.id;
            if e.data["status"] == status {
                assert!(
                    desde.elapsed() <= PRAZO,
                    "{status} came after {:?}",
                    desde.elapsed()
                );
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_sees_each_status_change_within_1s_in_order_and_across_a_restart() {
    let catalog = Catalog::spawn(&[(DOCE, 20)]).await;
    let cart = Cart::start(&catalog).await;
    let dir = temp();
    let orders = InProcess::start(config(dir.path(), &catalog, &cart, None)).await;
    let session = cart.novo(&[(DOCE, 2)]).await;
    let (s, v) = orders.api.checkout("live-1", &session).await.unwrap();
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();

    // The order id alone is not enough: the owner's session (or an admin) is.
    let base = orders.api.url.clone();
    assert_eq!(assinar(&base, &id, &[]).await.0, 401);
    let outra = "0".repeat(32);
    assert_eq!(
        assinar(&base, &id, &[("x-session-id", &outra)]).await.0,
        404
    );

    let dono = [("x-session-id", session.as_str())];
    let mut a = assinar(&base, &id, &dono).await.1.unwrap();
    // The history first: criado (pendente), confirmado.
    let mut ultimo = 0;
    a.ate_status("confirmado", &mut ultimo, Instant::now())
        .await;
    for status in ["pago", "enviado"] {
        let t = Instant::now();
        let (s, v) = orders.api.status(&id, status).await.unwrap();
        assert_eq!(s, StatusCode::OK, "{v}");
        a.ate_status(status, &mut ultimo, t).await;
    }

    // Shutdown ends the stream cleanly, and does not wait for the subscriber to leave.
    tokio::time::timeout(Duration::from_secs(10), orders.stop())
        .await
        .expect("orders did not stop with a subscriber connected");
    assert!(a.proximo(PRAZO).await.is_none(), "the stream did not end");

    let orders = InProcess::start(config(dir.path(), &catalog, &cart, None)).await;
    let last = ultimo.to_string();
    let retomada = [
        ("x-session-id", session.as_str()),
        ("last-event-id", last.as_str()),
    ];
    let mut a = assinar(&orders.api.url, &id, &retomada).await.1.unwrap();
    let t = Instant::now();
    let (s, v) = orders.api.status(&id, "entregue").await.unwrap();
    assert_eq!(s, StatusCode::OK, "{v}");
    a.ate_status("entregue", &mut ultimo, t).await;
    orders.stop().await;
}
