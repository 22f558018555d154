//! End to end: orders publish to `pedidos:eventos` through their outbox, and the cart's
//! consumer (`cart::events`) empties the cart of every confirmed order — and only those, and
//! only once. Real catalog cluster, real orders service, real cart API (`cart::run`) with the
//! consumer on the same store, real `redis-server`.
//!
//! The carts live in the cart's embedded store and only the stream lives in Redis, so the
//! cart can be read (and checked out) while Redis is down.

use std::sync::Arc;
use std::time::Duration;

use cart::events::{Consumer, ConsumerState, ConsumerStatus, EventsConfig, GROUP};
use cart::metrics::Metrics;
use cart::store::{CartStore, MemoryStore, DEFAULT_TTL};
use confeitaria_types::orders::STREAM_EVENTOS;
use http::{Method, StatusCode};
use tokio_util::sync::CancellationToken;

use crate::harness::*;

const DOCE: u64 = 1;
const OUTRO: u64 = 2;
/// How long a confirmation may take to empty its cart (Redis returning included).
const ESPERA: Duration = Duration::from_secs(15);

/// The cart's order-event consumer, running on `store`; stopped on drop.
struct Consumidor {
    cancel: CancellationToken,
    estado: Arc<ConsumerState>,
}

impl Consumidor {
    fn start(redis_url: &str, store: Arc<dyn CartStore>) -> Self {
        let mut cfg = EventsConfig::new(redis_url);
        cfg.consumer = "cart-e2e".to_owned();
        cfg.deadline = Duration::from_millis(300);
        cfg.block = Duration::from_millis(200);
        let estado = Arc::new(ConsumerState::default());
        let consumer =
            Consumer::new(cfg, store, Arc::new(Metrics::default()), estado.clone()).unwrap();
        let cancel = CancellationToken::new();
        tokio::spawn(consumer.run(cancel.clone()));
        Self { cancel, estado }
    }

    async fn estado_vira(&self, alvo: ConsumerStatus) -> bool {
        let estado = self.estado.clone();
        eventually(ESPERA, || {
            let e = estado.get();
            async move { e == alvo }
        })
        .await
    }
}

impl Drop for Consumidor {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Everything one test needs.
struct Mundo {
    redis: RedisServer,
    catalog: Catalog,
    cart: Cart,
    consumidor: Consumidor,
    orders: InProcess,
    _dir: tempfile::TempDir,
}

async fn mundo(iniciais: &[(u64, u64)]) -> Mundo {
    let redis = RedisServer::start();
    let catalog = Catalog::spawn(iniciais).await;
    let store: Arc<dyn CartStore> = Arc::new(MemoryStore::new(DEFAULT_TTL));
    let cart = Cart::start_with(&catalog, store.clone()).await;
    let consumidor = Consumidor::start(&redis.url(), store);
    assert!(consumidor.estado_vira(ConsumerStatus::Connected).await);
    let dir = temp();
    let orders = InProcess::start(config(dir.path(), &catalog, &cart, Some(&redis.url()))).await;
    Mundo {
        redis,
        catalog,
        cart,
        consumidor,
        orders,
        _dir: dir,
    }
}

impl Mundo {
    /// Whether the session has a cart, read through the cart API.
    async fn tem_carrinho(&self, session: &str) -> bool {
        let url = format!("{}/api/carrinho/{session}", self.cart.url);
        let (s, _, v) = http(Method::GET, &url, &[], None).await.unwrap();
        match s {
            StatusCode::OK => true,
            StatusCode::NOT_FOUND => false,
            s => panic!("cart read answered {s}: {v}"),
        }
    }

    async fn esvaziado(&self, session: &str) -> bool {
        eventually(ESPERA, || async { !self.tem_carrinho(session).await }).await
    }

    /// Checks out `session`; returns the order's id and status.
    async fn pedir(&self, key: &str, session: &str) -> (String, String) {
        let (s, v) = self.orders.api.checkout(key, session).await.unwrap();
        assert_eq!(s, StatusCode::CREATED, "{v}");
        (
            v["id"].as_str().unwrap().to_owned(),
            v["status"].as_str().unwrap().to_owned(),
        )
    }

    /// A confirmed order of a fresh cart, waited on until its cart is gone: every event
    /// published before it has been handled (one consumer takes the stream in order).
    async fn sentinela(&self, key: &str) {
        let s = self.cart.novo(&[(DOCE, 1)]).await;
        let (_, status) = self.pedir(key, &s).await;
        assert_eq!(status, "confirmado");
        assert!(
            self.esvaziado(&s).await,
            "the sentinel's cart was not emptied"
        );
    }

    /// Entries of the group read and not acknowledged.
    async fn pendentes(&self) -> usize {
        let client = redis::Client::open(self.redis.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let p: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
            .arg(STREAM_EVENTOS)
            .arg(GROUP)
            .query_async(&mut c)
            .await
            .unwrap();
        p.count()
    }

    async fn outbox_vazio(&self) -> bool {
        let store = self.orders.state.saga.store.clone();
        eventually(ESPERA, || {
            let n = store.outbox_len();
            async move { n == 0 }
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_orders_cart_is_emptied_and_a_rejected_ones_is_kept() {
    let m = mundo(&[(DOCE, 20), (OUTRO, 5)]).await;
    let rejeitar = m.cart.novo(&[(OUTRO, 3)]).await;
    let confirm = m.cart.novo(&[(DOCE, 2)]).await;
    let alheio = m.cart.novo(&[(DOCE, 1)]).await;
    m.catalog.admin.set_estoque(OUTRO, 1).await.unwrap();

    // Rejected first: its events are in the stream before the confirmed order's.
    let (rej, status) = m.pedir("rej", &rejeitar).await;
    assert_eq!(status, "rejeitado");
    let (conf, status) = m.pedir("conf", &confirm).await;
    assert_eq!(status, "confirmado");

    assert!(
        m.esvaziado(&confirm).await,
        "the confirmed order's cart was not emptied"
    );
    assert!(
        m.tem_carrinho(&rejeitar).await,
        "the rejected order's cart was emptied"
    );
    assert!(
        m.tem_carrinho(&alheio).await,
        "a cart with no order was emptied"
    );

    // The consumer saw both orders' events (so keeping the rejected cart was a decision,
    // not a miss) and acknowledged them.
    let entradas = stream(&m.redis.url()).await;
    let tipos = |id: &str| -> Vec<String> {
        entradas
            .iter()
            .filter(|e| e["pedido_id"] == id)
            .map(|e| e["tipo"].clone())
            .collect()
    };
    assert_eq!(tipos(&rej), ["criado", "rejeitado"]);
    assert_eq!(tipos(&conf), ["criado", "confirmado"]);
    assert!(eventually(ESPERA, || async { m.pendentes().await == 0 }).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_confirmation_does_not_empty_the_shoppers_new_cart() {
    let m = mundo(&[(DOCE, 20), (OUTRO, 5)]).await;
    let s = m.cart.novo(&[(DOCE, 2)]).await;
    let (id, status) = m.pedir("first", &s).await;
    assert_eq!(status, "confirmado");
    assert!(m.esvaziado(&s).await);

    // The shopper keeps the session and starts a new cart under it.
    let url = format!("{}/api/carrinho/adicionar", m.cart.url);
    let (st, _, v) = http(
        Method::POST,
        &url,
        &[("x-session-id", &s)],
        Some(serde_json::json!({"doce_id": OUTRO, "quantidade": 1})),
    )
    .await
    .unwrap();
    assert_eq!(st, StatusCode::OK, "{v}");

    // The outbox delivers at least once: after a crash between Redis's acknowledgement and
    // forgetting the entry it publishes it again, as a new stream entry with the same fields
    // (see outbox.rs). Do exactly that with the order's own `confirmado` entry.
    let entradas = stream(&m.redis.url()).await;
    let original = entradas
        .iter()
        .find(|e| e["pedido_id"] == id && e["tipo"] == "confirmado")
        .expect("the confirmation was published")
        .clone();
    let client = redis::Client::open(m.redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: String = redis::cmd("XADD")
        .arg(STREAM_EVENTOS)
        .arg("*")
        .arg(original.iter().collect::<Vec<_>>())
        .query_async(&mut c)
        .await
        .unwrap();

    m.sentinela("sentinel").await;
    assert!(
        m.tem_carrinho(&s).await,
        "the repeated confirmation emptied the shopper's new cart"
    );
    let n = stream(&m.redis.url())
        .await
        .iter()
        .filter(|e| e["event_id"] == format!("{id}:2"))
        .count();
    assert_eq!(n, 2, "the confirmation was not in the stream twice");
}

/// Orders keep being taken while Redis is down (the cart is in its embedded store, the
/// events wait in the orders outbox); when Redis returns, the outbox publishes them and the
/// consumer — reconnecting by itself — empties the confirmed orders' carts and keeps the
/// rejected one's.
///
/// `perde_dados`: Redis comes back empty (as without persistence: stream, consumer group and
/// remembered ids gone), instead of with its append-only file. Either way every event of the
/// outage reaches the cart: with the data the group resumes after its last entry; without
/// it the consumer creates the group again from the start of the new stream, which holds
/// only what the outbox published after the restart.
async fn com_redis_parado(perde_dados: bool) {
    let mut m = mundo(&[(DOCE, 50), (OUTRO, 5)]).await;
    // Before the outage: the group exists and has moved past this order's entries.
    m.sentinela("before").await;

    if perde_dados {
        let client = redis::Client::open(m.redis.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("FLUSHALL").query_async(&mut c).await.unwrap();
    }
    m.redis.kill();
    assert!(
        m.consumidor.estado_vira(ConsumerStatus::Disconnected).await,
        "the consumer did not notice Redis going away"
    );

    let rejeitar = m.cart.novo(&[(OUTRO, 3)]).await;
    m.catalog.admin.set_estoque(OUTRO, 1).await.unwrap();
    let (_, status) = m.pedir("down-rej", &rejeitar).await;
    assert_eq!(status, "rejeitado");
    let mut confirmed = vec![];
    for i in 0..3 {
        let s = m.cart.novo(&[(DOCE, 1 + i)]).await;
        let (_, status) = m.pedir(&format!("down-{i}"), &s).await;
        assert_eq!(status, "confirmado", "an order failed while Redis was down");
        confirmed.push(s);
    }
    assert!(
        m.orders.state.saga.store.outbox_len() >= 8,
        "the outage's events should be waiting in the outbox"
    );
    for s in &confirmed {
        assert!(
            m.tem_carrinho(s).await,
            "a cart was emptied while no event could be read"
        );
    }

    m.redis.restart();
    for s in &confirmed {
        assert!(
            m.esvaziado(s).await,
            "a confirmed order's cart was not emptied after Redis returned"
        );
    }
    assert!(m.outbox_vazio().await, "the outbox did not drain");
    // The rejected order was published before the confirmed ones: it has been handled.
    assert!(
        m.tem_carrinho(&rejeitar).await,
        "the rejected order's cart was emptied"
    );
    assert!(m.consumidor.estado_vira(ConsumerStatus::Connected).await);
    assert!(eventually(ESPERA, || async { m.pendentes().await == 0 }).await);
    m.sentinela("after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_orders_succeed_and_carts_empty_when_it_returns_with_its_data() {
    com_redis_parado(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_orders_succeed_and_carts_empty_when_it_returns_empty() {
    com_redis_parado(true).await;
}
