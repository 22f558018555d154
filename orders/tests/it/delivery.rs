//! Order events reach the cart in every configuration: through Redis when orders has it,
//! straight to the cart when it has not — a confirmed order's cart is empty within 2 s and the
//! outbox drains; events left in the outbox by a crash are delivered after the restart, and
//! the one delivered twice is applied once; a cart gone for good costs a bounded outbox.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cart::events::EventsConfig;
use cart::session::SessionId;
use cart::store::{
    AddRefusal, Addition, CartSnapshot, CartStore, MemoryStore, Removal, StoreError, DEFAULT_TTL,
};
use futures::future::BoxFuture;
use http::StatusCode;

use crate::harness::*;

const DOCE: u64 = 1;
/// What the issue allows between a confirmation and its emptied cart.
const PRAZO: Duration = Duration::from_secs(2);

/// Checks out a fresh cart of `cart` on `orders`; returns the session, once the order is
/// `confirmado`.
async fn pedir(cart: &Cart, orders: &OrdersApi, key: &str) -> String {
    let session = cart.novo(&[(DOCE, 2)]).await;
    let (s, v) = orders.checkout(key, &session).await.unwrap();
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["status"], "confirmado", "{v}");
    session
}

/// Asserts that the cart of `session` is gone within [`PRAZO`] of now.
async fn esvaziado_a_tempo(cart: &Cart, session: &str) {
    let t = Instant::now();
    let ok = eventually(PRAZO, || async { !cart.has_cart(session).await }).await;
    assert!(ok, "the cart was not emptied within {PRAZO:?}");
    eprintln!("cart emptied {:?} after the confirmation", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_a_checkout_empties_its_cart_within_2s_and_the_outbox_drains() {
    let catalog = Catalog::spawn(&[(DOCE, 20)]).await;
    let cart = Cart::start(&catalog).await;
    let dir = temp();
    let orders = InProcess::start(config(dir.path(), &catalog, &cart, None)).await;
    for i in 0..3 {
        let session = pedir(&cart, &orders.api, &format!("d-{i}")).await;
        esvaziado_a_tempo(&cart, &session).await;
    }
    let store = orders.state.saga.store.clone();
    assert!(eventually(PRAZO, || async { store.outbox_len() == 0 }).await);
    assert_eq!(orders.api.metric("orders_outbox_pending").await, Some(0));
    assert_eq!(cart.handled("emptied"), 3);
    orders.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_a_checkout_empties_its_cart_within_2s_and_the_outbox_drains() {
    let redis = RedisServer::start();
    let catalog = Catalog::spawn(&[(DOCE, 20)]).await;
    let store = cart::store::RedisStore::new(cart::store::RedisStoreConfig {
        url: redis.url(),
        ttl: DEFAULT_TTL,
        deadline: Duration::from_millis(300),
    })
    .unwrap();
    let mut events = EventsConfig::new(redis.url());
    events.block = Duration::from_millis(200);
    let cart = Cart::start_consuming(&catalog, Arc::new(store), Some(events)).await;
    let dir = temp();
    let orders = InProcess::start(config(dir.path(), &catalog, &cart, Some(&redis.url()))).await;
    for i in 0..3 {
        let session = pedir(&cart, &orders.api, &format!("r-{i}")).await;
        esvaziado_a_tempo(&cart, &session).await;
    }
    let store = orders.state.saga.store.clone();
    assert!(eventually(PRAZO, || async { store.outbox_len() == 0 }).await);
    // The consumer counts an event after handling it.
    assert!(eventually(PRAZO, || async { cart.handled("emptied") == 3 }).await);
    orders.stop().await;
}

/// The memory store, except that deleting a cart fails while `falhando` is set: the cart
/// then answers 503 to a confirmation, and orders keeps it in its outbox.
struct Emperrado {
    dentro: MemoryStore,
    falhando: AtomicBool,
}

impl CartStore for Emperrado {
    fn add<'a>(
        &'a self,
        session: &'a SessionId,
        adicao: Addition,
    ) -> BoxFuture<'a, Result<Result<CartSnapshot, AddRefusal>, StoreError>> {
        self.dentro.add(session, adicao)
    }
    fn remove<'a>(
        &'a self,
        session: &'a SessionId,
        doce_id: u64,
    ) -> BoxFuture<'a, Result<Removal, StoreError>> {
        self.dentro.remove(session, doce_id)
    }
    fn get<'a>(
        &'a self,
        session: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<CartSnapshot>, StoreError>> {
        self.dentro.get(session)
    }
    fn delete<'a>(&'a self, session: &'a SessionId) -> BoxFuture<'a, Result<bool, StoreError>> {
        if self.falhando.load(Ordering::SeqCst) {
            return Box::pin(async { Err(StoreError::Unavailable("stuck".into())) });
        }
        self.dentro.delete(session)
    }
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.dentro.ping()
    }
    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_left_in_the_outbox_are_delivered_after_a_restart_and_a_repeat_is_ignored() {
    let catalog = Catalog::spawn(&[(DOCE, 20)]).await;
    let store = Arc::new(Emperrado {
        dentro: MemoryStore::new(DEFAULT_TTL),
        falhando: AtomicBool::new(true),
    });
    let cart = Cart::start_with(&catalog, store.clone()).await;
    let dir = temp();
    let env = ProcessEnv::new(&dir, &catalog, &cart, "");

    // The cart cannot take the first confirmation: it, and the events behind it (the second
    // order's `criado` and `confirmado`), stay in the outbox, in order.
    let p = Process::start(&env, None).await;
    let s1 = pedir(&cart, &p.api, "k-1").await;
    let s2 = pedir(&cart, &p.api, "k-2").await;
    let api = p.api.clone();
    let presos = eventually(Duration::from_secs(5), || async {
        api.metric("orders_outbox_pending").await == Some(3)
    })
    .await;
    assert!(presos, "expected three events pending in the outbox");
    assert_eq!(cart.handled("emptied"), 0);
    drop(p);

    // Restarted, orders delivers them, and aborts right after they are acknowledged, before
    // forgetting them. It does so at start-up, perhaps before `/health` ever answers, so the
    // process is not waited for.
    store.falhando.store(false, Ordering::SeqCst);
    let mut p = Process::spawn(&env, Some("after_publish"));
    assert!(
        p.wait_aborted(Duration::from_secs(10)).await,
        "did not abort after delivering"
    );
    drop(p);
    assert!(!cart.has_cart(&s1).await && !cart.has_cart(&s2).await);
    assert_eq!(cart.handled("emptied"), 2);

    // The shoppers start new carts under the same sessions; the repeats must leave them be.
    let um = Addition {
        doce_id: DOCE,
        quantidade: 1,
        estoque: 20,
    };
    for s in [&s1, &s2] {
        let s = SessionId::parse(s).unwrap();
        store.add(&s, um).await.unwrap().unwrap();
    }

    let p = Process::start(&env, None).await;
    let api = p.api.clone();
    let vazio = eventually(Duration::from_secs(5), || async {
        api.metric("orders_outbox_pending").await == Some(0)
    })
    .await;
    assert!(vazio, "the outbox did not drain");
    assert_eq!(
        cart.handled("duplicate"),
        2,
        "the repeats were not recognised"
    );
    assert!(
        cart.has_cart(&s1).await && cart.has_cart(&s2).await,
        "a repeat emptied a new cart"
    );
    assert_eq!(cart.handled("emptied"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_that_never_answers_costs_a_bounded_outbox_and_a_count_of_dropped_events() {
    let catalog = Catalog::spawn(&[(DOCE, 20)]).await;
    let cart = Cart::start(&catalog).await;
    let dir = temp();
    let mut c = config(dir.path(), &catalog, &cart, None);
    c.outbox_max = 3;
    // Checkout reads the real cart; events go to a port where nothing listens.
    let orders =
        InProcess::start_with_delivery_to(c, &format!("http://127.0.0.1:{}", free_port())).await;
    for i in 0..3 {
        pedir(&cart, &orders.api, &format!("b-{i}")).await;
    }
    // Six events (criado, confirmado per order) for a bound of three.
    let api = orders.api.clone();
    let limitado = eventually(Duration::from_secs(10), || async {
        api.metric("orders_outbox_pending").await <= Some(3)
            && api.metric("orders_outbox_dropped_total").await >= Some(3)
    })
    .await;
    assert!(limitado, "the outbox was not bounded");
    orders.stop().await;
}
