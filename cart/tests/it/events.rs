//! The order-event consumer against a real `redis-server`: entries are written as the orders
//! outbox writes them (`XADD pedidos:eventos * event_id … evento …`), and the cart is looked
//! at through the API. Carts live in either store; the stream always lives in Redis.
//!
//! Checks that "nothing happened" are made after a later confirmation (the sentinel) has been
//! handled: one consumer handles the stream in order, so by then the earlier entries were
//! handled too, and a wrong deletion would have shown.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use cart::events::{Consumer, ConsumerStatus, EventsConfig, DEDUPE_PREFIX, GROUP};
use confeitaria_types::orders::STREAM_EVENTOS;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::harness::{
    cart_binary, eventually, CartProcess, RedisServer, StoreKind, TestApp, REDIS_DEADLINE,
};
use crate::serving::{send, HttpClient};

/// How long a published event may take to empty its cart.
const WAIT: Duration = Duration::from_secs(10);

/// The cart API, a Redis holding the stream, and (once started) the consumer.
struct Fixture {
    app: TestApp,
    /// The stream's server when carts are not in Redis (with Redis, it is `app.redis`).
    own_stream: Option<RedisServer>,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Fixture {
    /// The API over `kind`; nothing consumes yet.
    async fn new(kind: StoreKind) -> Self {
        let app = TestApp::spawn(kind).await;
        let own_stream = match kind {
            StoreKind::Memory => Some(RedisServer::start()),
            StoreKind::Redis => None,
        };
        Self {
            app,
            own_stream,
            cancel: CancellationToken::new(),
            task: None,
        }
    }

    /// The API with a consumer named `cart-1` already running.
    async fn running(kind: StoreKind) -> Self {
        let mut f = Self::new(kind).await;
        f.start(config(&f.stream().url(), "cart-1")).await;
        f
    }

    fn stream(&self) -> &RedisServer {
        self.own_stream
            .as_ref()
            .or(self.app.redis.as_ref())
            .expect("a stream server")
    }

    fn stream_mut(&mut self) -> &mut RedisServer {
        match self.own_stream.as_mut() {
            Some(s) => s,
            None => self.app.redis(),
        }
    }

    /// Starts a consumer on the app's store and waits until it has read the stream once.
    async fn start(&mut self, config: EventsConfig) {
        let consumer = Consumer::for_state(config, &self.app.state).unwrap();
        self.task = Some(tokio::spawn(consumer.run(self.cancel.clone())));
        let estado = self.app.state.eventos.clone();
        assert!(
            eventually(WAIT, || {
                let estado = estado.clone();
                async move { estado.get() == ConsumerStatus::Connected }
            })
            .await,
            "the consumer never connected"
        );
    }

    async fn publish(&self, event_id: &str, tipo: &str, session: &str) {
        publish(self.stream(), event_id, tipo, session).await;
    }

    async fn has_cart(&self, session: &str) -> bool {
        let r = self.app.get(session).await;
        match r.status {
            StatusCode::OK => true,
            StatusCode::NOT_FOUND => false,
            s => panic!("cart read answered {s}: {}", r.text),
        }
    }

    /// Waits until `session`'s cart is gone; false if it is still there after [`WAIT`].
    async fn emptied(&self, session: &str) -> bool {
        eventually(WAIT, || async { !self.has_cart(session).await }).await
    }

    /// Publishes a confirmation for a fresh cart and waits until the consumer emptied it:
    /// everything published before has been handled.
    async fn sentinel(&self) {
        let s = self.app.new_cart(9, 1).await;
        let id = format!("{}:2", rand_hex());
        self.publish(&id, "confirmado", &s).await;
        assert!(
            self.emptied(&s).await,
            "the sentinel cart was never emptied"
        );
    }

    /// Asserts that `session`'s cart is still there a while after its confirmation was
    /// published — for when no consumer runs, so there is no sentinel to wait on.
    async fn assert_not_emptied(&self, session: &str) {
        let gone = eventually(Duration::from_millis(600), || async {
            !self.has_cart(session).await
        })
        .await;
        assert!(!gone, "a cart was emptied with no consumer running");
    }

    /// Waits until the group has no entry read and not acknowledged.
    async fn acknowledged(&self) -> bool {
        eventually(WAIT, || async { pending(self.stream()).await == 0 }).await
    }

    fn metric(&self, outcome: &str) -> u64 {
        let text = self.app.state.metrics.render();
        let prefix = format!("cart_order_events_total{{outcome=\"{outcome}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0, |v| v.trim().parse().unwrap())
    }

    /// Cancels the consumer and waits for it (at most 5 s).
    async fn stop(&mut self) {
        self.cancel.cancel();
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .expect("the consumer did not stop on cancel")
                .unwrap();
        }
        self.cancel = CancellationToken::new();
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A consumer config with short waits, so tests see reconnects and claims quickly.
fn config(url: &str, consumer: &str) -> EventsConfig {
    let mut c = EventsConfig::new(url);
    c.consumer = consumer.to_owned();
    c.deadline = REDIS_DEADLINE;
    c.block = Duration::from_millis(200);
    c
}

fn rand_hex() -> String {
    cart::session::SessionId::new_random().to_string()
}

/// `XADD` an entry shaped as the orders outbox writes it.
async fn publish(server: &RedisServer, event_id: &str, tipo: &str, session: &str) {
    let (pedido_id, seq) = event_id.split_once(':').unwrap_or((event_id, "1"));
    let evento = serde_json::json!({
        "id": event_id, "pedido_id": pedido_id, "seq": seq.parse::<u64>().unwrap_or(1),
        "em": "2025-01-01T00:00:00Z", "tipo": tipo,
    });
    let mut c = server.connection().await;
    let _: String = ::redis::cmd("XADD")
        .arg(STREAM_EVENTOS)
        .arg("*")
        .arg("event_id")
        .arg(event_id)
        .arg("pedido_id")
        .arg(pedido_id)
        .arg("seq")
        .arg(seq)
        .arg("tipo")
        .arg(tipo)
        .arg("status")
        .arg(if tipo == "rejeitado" {
            "rejeitado"
        } else {
            "confirmado"
        })
        .arg("session_id")
        .arg(session)
        .arg("evento")
        .arg(evento.to_string())
        .query_async(&mut c)
        .await
        .unwrap();
}

/// Entries read by the group and not acknowledged.
async fn pending(server: &RedisServer) -> u64 {
    let mut c = server.connection().await;
    let v: ::redis::streams::StreamPendingReply = ::redis::cmd("XPENDING")
        .arg(STREAM_EVENTOS)
        .arg(GROUP)
        .query_async(&mut c)
        .await
        .unwrap();
    v.count() as u64
}

/// Reads every new entry as `consumer` and acknowledges nothing: a process that crashed
/// right after reading. Returns how many it took.
async fn read_and_crash(server: &RedisServer, consumer: &str) -> usize {
    let mut c = server.connection().await;
    let r: ::redis::RedisResult<()> = ::redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(STREAM_EVENTOS)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut c)
        .await;
    assert!(r.is_ok() || r.unwrap_err().code() == Some("BUSYGROUP"));
    let v: ::redis::streams::StreamReadReply = ::redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg(consumer)
        .arg("COUNT")
        .arg(100)
        .arg("STREAMS")
        .arg(STREAM_EVENTOS)
        .arg(">")
        .query_async(&mut c)
        .await
        .unwrap();
    v.keys.iter().map(|k| k.ids.len()).sum()
}

async fn confirmation_empties_only_that_cart(kind: StoreKind) {
    let f = Fixture::running(kind).await;
    let a = f.app.new_cart(1, 2).await;
    let b = f.app.new_cart(2, 3).await;
    f.publish(&format!("{}:2", rand_hex()), "confirmado", &a)
        .await;
    assert!(
        f.emptied(&a).await,
        "the confirmed order's cart was not emptied"
    );
    f.sentinel().await;
    assert!(f.has_cart(&b).await, "another shopper's cart was emptied");
    assert_eq!(f.app.get(&b).await.qty(2), 3);
    // Counted and acknowledged just after the deletion the sentinel waited on.
    assert!(eventually(WAIT, || async { f.metric("emptied") == 2 }).await);
    assert!(f.acknowledged().await, "handled entries stay pending");
}

async fn other_event_types_leave_the_cart_alone(kind: StoreKind) {
    let f = Fixture::running(kind).await;
    let a = f.app.new_cart(1, 2).await;
    let pedido = rand_hex();
    for (seq, tipo) in [
        (1, "criado"),
        (2, "rejeitado"),
        (3, "pagamento_solicitado"),
        (4, "pago"),
        (5, "cancelamento_solicitado"),
        (6, "cancelado"),
        (7, "acao_abortada"),
        (8, "enviado"),
        (9, "entregue"),
    ] {
        f.publish(&format!("{pedido}:{seq}"), tipo, &a).await;
    }
    f.sentinel().await;
    assert!(f.has_cart(&a).await, "a non-confirmation emptied the cart");
    assert_eq!(f.metric("ignored"), 9);
    assert!(f.acknowledged().await, "ignored entries stay pending");
}

async fn repeated_confirmation_does_not_empty_a_new_cart(kind: StoreKind) {
    let f = Fixture::running(kind).await;
    let a = f.app.new_cart(1, 2).await;
    let event_id = format!("{}:2", rand_hex());
    f.publish(&event_id, "confirmado", &a).await;
    assert!(f.emptied(&a).await);

    // The shopper keeps the session and starts a new cart under it.
    let r = f.app.add(Some(&a), 3, 4).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // The same event again, as a second stream entry (the outbox republishing after a crash
    // between Redis's acknowledgement and forgetting it).
    f.publish(&event_id, "confirmado", &a).await;
    f.sentinel().await;
    assert!(
        f.has_cart(&a).await,
        "a repeated confirmation emptied the new cart"
    );
    assert_eq!(f.app.get(&a).await.qty(3), 4);
    assert_eq!(f.metric("duplicate"), 1);

    // It is remembered in Redis with a TTL (so the memory of handled ids does not grow
    // forever).
    let mut c = f.stream().connection().await;
    let ttl: i64 = ::redis::cmd("PTTL")
        .arg(format!("{DEDUPE_PREFIX}{event_id}"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(ttl > 0, "the handled id has no TTL: {ttl}");
}

crate::on_both_stores!(
    confirmation_empties_only_that_cart,
    other_event_types_leave_the_cart_alone,
    repeated_confirmation_does_not_empty_a_new_cart,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_entries_are_dropped_without_blocking_the_stream() {
    let f = Fixture::running(StoreKind::Memory).await;
    let a = f.app.new_cart(1, 2).await;
    let mut c = f.stream().connection().await;
    for fields in [
        vec![("foo", "bar")],
        vec![
            ("tipo", "confirmado"),
            ("event_id", "x:1"),
            ("session_id", "nope"),
        ],
        vec![("tipo", "confirmado"), ("session_id", a.as_str())],
        vec![
            ("tipo", "confirmado"),
            ("event_id", ""),
            ("session_id", a.as_str()),
        ],
    ] {
        let _: String = ::redis::cmd("XADD")
            .arg(STREAM_EVENTOS)
            .arg("*")
            .arg(&fields)
            .query_async(&mut c)
            .await
            .unwrap();
    }
    f.sentinel().await;
    assert!(
        f.has_cart(&a).await,
        "a malformed confirmation emptied a cart"
    );
    assert_eq!(f.metric("invalid"), 4);
    assert!(f.acknowledged().await, "malformed entries stay pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_read_before_a_crash_are_handled_on_restart() {
    let mut f = Fixture::new(StoreKind::Memory).await;
    let a = f.app.new_cart(1, 2).await;
    f.publish(&format!("{}:2", rand_hex()), "confirmado", &a)
        .await;
    // The previous run of this same consumer read the entry and died before handling it:
    // a fresh read (`>`) will never return it again.
    assert_eq!(read_and_crash(f.stream(), "cart-1").await, 1);
    assert_eq!(pending(f.stream()).await, 1);
    assert!(f.has_cart(&a).await);

    f.start(config(&f.stream().url(), "cart-1")).await;
    assert!(
        f.emptied(&a).await,
        "the pending entry was not handled on restart"
    );
    assert!(
        f.acknowledged().await,
        "the pending entry was not acknowledged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_stalled_under_a_dead_consumer_are_taken_over() {
    let mut f = Fixture::new(StoreKind::Memory).await;
    let a = f.app.new_cart(1, 2).await;
    f.publish(&format!("{}:2", rand_hex()), "confirmado", &a)
        .await;
    // A replica that no longer exists (another name) read it and died.
    assert_eq!(read_and_crash(f.stream(), "cart-old-pod").await, 1);

    let mut cfg = config(&f.stream().url(), "cart-2");
    cfg.claim_idle = Duration::from_millis(300);
    f.start(cfg).await;
    assert!(
        f.emptied(&a).await,
        "the stalled entry of the dead consumer was not taken over"
    );
    assert!(f.acknowledged().await, "the claimed entry stays pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_reconnects_after_redis_restarts_and_after_it_loses_its_data() {
    // Carts in memory: the API keeps serving while the stream's Redis is down.
    let mut f = Fixture::running(StoreKind::Memory).await;
    let a = f.app.new_cart(1, 2).await;

    f.stream_mut().kill();
    let estado = f.app.state.eventos.clone();
    assert!(
        eventually(WAIT, || {
            let estado = estado.clone();
            async move { estado.get() == ConsumerStatus::Disconnected }
        })
        .await,
        "the consumer did not notice Redis going away"
    );
    let r = f.app.call(Method::GET, "/ready", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["events"], "disconnected");
    assert!(f.has_cart(&a).await);

    // Back with its data (AOF): the group and its position survive.
    f.stream_mut().restart();
    let t = Instant::now();
    f.publish(&format!("{}:2", rand_hex()), "confirmado", &a)
        .await;
    assert!(f.emptied(&a).await, "no consumption after Redis came back");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?} to resume",
        t.elapsed()
    );
    let r = f.app.call(Method::GET, "/ready", None, None).await;
    assert_eq!(r.json["events"], "connected", "{}", r.text);

    // Back without its data (stream and group gone): the group is created again, from the
    // start of the new stream.
    let mut c = f.stream().connection().await;
    let _: () = ::redis::cmd("FLUSHALL").query_async(&mut c).await.unwrap();
    let b = f.app.new_cart(2, 1).await;
    f.publish(&format!("{}:2", rand_hex()), "confirmado", &b)
        .await;
    assert!(
        f.emptied(&b).await,
        "no consumption after the group was lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stops_the_consumer_on_shutdown_even_with_redis_hung() {
    let redis = RedisServer::start();
    let app = TestApp::spawn(StoreKind::Memory).await;
    // A long blocking read, so only cancelling the read itself stops the consumer in time.
    let mut cfg = config(&redis.url(), "cart-1");
    cfg.block = Duration::from_secs(3);
    let consumer = Consumer::for_state(cfg, &app.state).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cart::serve(
        listener,
        app.state.clone(),
        Some(consumer),
        async {
            let _ = stopped.await;
        },
    ));
    let estado = app.state.eventos.clone();
    assert!(
        eventually(WAIT, || {
            let estado = estado.clone();
            async move { estado.get() == ConsumerStatus::Connected }
        })
        .await
    );
    // Hung mid-read: the consumer's blocking read will get no answer.
    redis.signal("STOP");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = Instant::now();
    stop.send(()).unwrap();
    let r = tokio::time::timeout(Duration::from_secs(6), server).await;
    redis.signal("CONT");
    r.expect("serve did not return after shutdown")
        .unwrap()
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn binary_consumes_order_events_from_its_redis() {
    let redis = RedisServer::start();
    let mut cmd = cart_binary();
    cmd.env("CONFEITARIA_CART_ADDR", "127.0.0.1:0")
        .env("CONFEITARIA_REDIS_URL", redis.url())
        .env("CONFEITARIA_CATALOG_NODES", "127.0.0.1:1")
        .env("CONFEITARIA_CART_EVENTS_CONSUMER", "cart-bin");
    let cart = CartProcess::spawn(cmd);
    let addr = cart.addr.clone();

    // The catalog is unreachable here, so the cart is written as the store writes it
    // (docs/cart.md, "Redis key layout").
    let sid = rand_hex();
    let key = format!("confeitaria:carrinho:{sid}");
    let mut c = redis.connection().await;
    let _: () = ::redis::cmd("HSET")
        .arg(&key)
        .arg(&[("criado_em", "1"), ("doce:1", "2")])
        .query_async(&mut c)
        .await
        .unwrap();

    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let ready = || {
        Request::get(format!("http://{addr}/ready"))
            .body(Body::empty())
            .unwrap()
    };
    assert!(
        eventually(WAIT, || async {
            send(&client, ready()).await.2["events"] == "connected"
        })
        .await,
        "the binary's consumer never connected"
    );
    publish(&redis, &format!("{}:2", rand_hex()), "confirmado", &sid).await;
    assert!(
        eventually(WAIT, || async {
            let n: i64 = ::redis::cmd("EXISTS")
                .arg(&key)
                .query_async(&mut redis.connection().await)
                .await
                .unwrap();
            n == 0
        })
        .await,
        "the binary did not empty the confirmed order's cart"
    );

    let status = cart.terminate().await;
    assert!(status.success(), "exit status {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmations_published_while_no_consumer_runs_are_handled_when_one_starts() {
    // Published before the group exists at all (the cart never ran): the group starts at 0.
    let mut f = Fixture::new(StoreKind::Memory).await;
    let a = f.app.new_cart(1, 2).await;
    f.publish(&format!("{}:2", rand_hex()), "confirmado", &a)
        .await;
    f.start(config(&f.stream().url(), "cart-1")).await;
    assert!(
        f.emptied(&a).await,
        "an event older than the group was missed"
    );

    // Published while the consumer is stopped: read on its next start.
    f.stop().await;
    let b = f.app.new_cart(2, 1).await;
    f.publish(&format!("{}:2", rand_hex()), "confirmado", &b)
        .await;
    f.assert_not_emptied(&b).await;
    f.start(config(&f.stream().url(), "cart-1")).await;
    assert!(
        f.emptied(&b).await,
        "an event published while stopped was missed"
    );
}
