//! Graceful degradation: what still works when parts are gone, and how the shop says so.
//!
//! - **Catalog without a leader** (two of three voters killed): the storefront and the
//!   catalog's local reads still answer, carts still fill; a checkout is refused with 503 and
//!   `Retry-After` instead of hanging, and the same checkout retried with its key once the
//!   nodes are back becomes an order. The gateway's breakers for the dead nodes open (read
//!   from its `/metrics`) and close again once they answer.
//! - **Redis down** (when `up` runs one): browsing and order reads go on; the cart answers 503
//!   `store_unavailable` with `Retry-After` within its deadline; order events wait in the
//!   outbox and leave once Redis is back.

use std::time::Duration;

use confeitaria_types::orders::StatusPedido;
use tokio::time::Instant;

use super::control::Act;
use super::failover::new_key;
use super::report::Report;
use super::shop::{sample, Checkout, DemoShop, PROBE, SETTLE};
use super::Info;
use crate::args::Lang;
use crate::error::CliError;

/// The product put in carts.
pub const DOCE: u64 = 6;

/// What the scenario says before it acts.
pub const INFO: Info = Info {
    title: ("Degradação graciosa", "Graceful degradation"),
    concept: (
        "sem maioria no catálogo, a loja continua navegável (leituras locais) e o checkout pede \
         para tentar de novo (503 + Retry-After) em vez de travar; os disjuntores do gateway \
         isolam os nós mortos; sem Redis, o carrinho recusa limpo e os eventos esperam no outbox.",
        "without a catalog majority the shop stays browsable (local reads) and checkout asks to \
         retry (503 + Retry-After) instead of hanging; the gateway's breakers cut the dead \
         nodes off; without Redis the cart refuses cleanly and events wait in the outbox.",
    ),
    action: (
        "derruba 2 dos 3 nós; navega, enche um carrinho e tenta o checkout; religa os nós e \
         repete o checkout com a mesma chave; depois (se houver Redis) derruba e religa o Redis.",
        "kills 2 of the 3 nodes; browses, fills a cart and tries to check out; starts the nodes \
         and retries the checkout with the same key; then (with Redis) kills and restarts Redis.",
    ),
    look: (
        "{painel}: \"sem líder\", disjuntores \"aberto\" e depois \"fechado\"; a vitrine {shop}/ \
         continua abrindo; curl -s {shop}/metrics | grep breaker_state",
        "{painel}: \"no leader\", breakers \"open\" then \"closed\"; the storefront {shop}/ \
         keeps opening; curl -s {shop}/metrics | grep breaker_state",
    ),
};

/// Runs the scenario.
pub async fn run(shop: &DemoShop, rep: &mut Report) -> Result<(), CliError> {
    let l = rep.lang();
    let g = shop.gateway()?.to_owned();
    let original = shop.estoque(DOCE).await?.disponivel;
    leaderless(shop, rep, &g).await?;
    if shop.has("redis") {
        redis_down(shop, rep, &g).await?;
    } else {
        rep.step(tr!(
            l,
            "Redis: esta loja não usa (sem redis-server, o carrinho guarda em memória) — parte pulada",
            "Redis: this shop uses none (no redis-server: the cart keeps carts in memory) — part skipped"
        ));
    }
    shop.client.set_estoque(DOCE, original).await?;
    Ok(())
}

/// The gateway's breaker state for the instance it knows as `addr` (0 closed, 1 open, 2
/// half-open).
async fn breaker(shop: &DemoShop, g: &str, addr: &str) -> Option<f64> {
    let m = shop.metrics(g).await.ok()?;
    sample(&m, "gateway_breaker_state", &format!("\"{addr}\""))
        .or_else(|| sample(&m, "gateway_breaker_state", addr))
}

async fn leaderless(shop: &DemoShop, rep: &mut Report, g: &str) -> Result<(), CliError> {
    let l = rep.lang();
    let leader = shop.leader().await?;
    let followers = shop.followers(leader).await;
    let Some(&f) = followers.first() else {
        rep.check(false, tr!(l, "nenhum seguidor", "no follower"));
        return Ok(());
    };
    let nome = shop
        .client
        .doce(1, confeitaria_client::Consistency::Linearizable)
        .await?
        .nome;
    shop.client.set_estoque(DOCE, 1000).await?;
    shop.kill_node(leader).await?;
    shop.kill_node(f).await?;
    rep.step(tr!(
        l,
        "nós {leader} (líder) e {f} derrubados: sobra um votante, sem maioria",
        "nodes {leader} (leader) and {f} killed: one voter left, no majority"
    ));

    let vitrine = shop.get(&format!("{g}/"), Duration::from_secs(10)).await;
    let (s, has) = match &vitrine {
        Ok(r) => (
            r.status.as_u16(),
            String::from_utf8_lossy(&r.body).contains(&nome),
        ),
        Err(_) => (0, false),
    };
    rep.check(
        s == 200 && has,
        tr!(
            l,
            "a vitrine {g}/ abre (HTTP {s}) e lista \"{nome}\"",
            "the storefront {g}/ opens (HTTP {s}) and lists \"{nome}\""
        ),
    );
    let session = shop.new_cart(DOCE, 1).await;
    rep.check(
        session.is_ok(),
        tr!(
            l,
            "o carrinho aceita 1 unidade do produto {DOCE} ({r})",
            "the cart takes 1 unit of product {DOCE} ({r})",
            r = session
                .as_ref()
                .map_or_else(|e| e.clone(), |_| "200".into())
        ),
    );
    let key = new_key();
    let mut refused = false;
    if let Ok(session) = &session {
        let t = Instant::now();
        let c = shop.checkout(session, &key).await;
        let took = t.elapsed().as_millis();
        let text = match &c {
            Checkout::Refused {
                status,
                code,
                retry_after,
            } => {
                refused = *status == 503 && retry_after.is_some();
                format!(
                    "HTTP {status} {code}, Retry-After: {}",
                    retry_after.as_deref().unwrap_or("-")
                )
            }
            Checkout::Placed(p) => format!("{:?}", p.status),
            Checkout::Lost(e) => e.clone(),
        };
        rep.check(
            refused,
            tr!(
                l,
                "o checkout pede para tentar de novo: {text}, em {took} ms",
                "checkout asks to retry: {text}, after {took} ms"
            ),
        );
    }
    let mut seen_open = Vec::new();
    for id in [leader, f] {
        let addr = shop.known_as(id);
        let open = shop
            .wait_for(Duration::from_secs(10), "breaker open", || async {
                breaker(shop, g, &addr).await == Some(1.0)
            })
            .await
            .is_ok();
        seen_open.push((id, open));
    }
    rep.check(
        seen_open.iter().all(|(_, o)| *o),
        tr!(
            l,
            "disjuntores do gateway abertos para os nós mortos: {v}",
            "gateway breakers open for the dead nodes: {v}",
            v = seen_open
                .iter()
                .map(|(id, o)| match (o, l) {
                    (true, Lang::Pt) => format!("{id}=aberto"),
                    (false, Lang::Pt) => format!("{id}=fechado"),
                    (true, Lang::En) => format!("{id}=open"),
                    (false, Lang::En) => format!("{id}=closed"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );

    shop.start_node(leader).await?;
    shop.start_node(f).await?;
    let t = Instant::now();
    let new_leader = shop.leader().await?;
    rep.step(tr!(
        l,
        "nós religados; líder: nó {new_leader} ({ms} ms)",
        "nodes started; leader: node {new_leader} ({ms} ms)",
        ms = t.elapsed().as_millis()
    ));
    // Reads through the gateway let a half-open breaker try its probe request.
    let read = format!("{g}/api/produtos?consistency=local&limit=1");
    let closed = shop
        .wait_for(SETTLE, "breakers closed", || async {
            let _ = shop.get(&read, PROBE).await;
            let a = breaker(shop, g, &shop.known_as(leader)).await;
            let b = breaker(shop, g, &shop.known_as(f)).await;
            a == Some(0.0) && b == Some(0.0)
        })
        .await
        .is_ok();
    rep.check(
        closed,
        tr!(
            l,
            "disjuntores fechados de novo para os nós {leader} e {f}",
            "breakers closed again for nodes {leader} and {f}"
        ),
    );
    let mut placed = None;
    if let Ok(session) = &session {
        let end = Instant::now() + SETTLE;
        while placed.is_none() && Instant::now() < end {
            match shop.checkout(session, &key).await {
                Checkout::Placed(p) if p.status != StatusPedido::Pendente => placed = Some(p),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        rep.check(
            placed
                .as_ref()
                .is_some_and(|p| p.status == StatusPedido::Confirmado),
            tr!(
                l,
                "o mesmo checkout, repetido com a mesma chave, virou o pedido {id} ({s})",
                "the same checkout, retried with the same key, became order {id} ({s})",
                id = placed.as_ref().map_or("-", |p| p.id.as_str()),
                s = placed.as_ref().map_or("-", |p| p.status.as_str())
            ),
        );
    }
    rep.figure(tr!(
        l,
        "sem líder: vitrine {s}, checkout {c}; disjuntores abriram e fecharam",
        "no leader: storefront {s}, checkout {c}; breakers opened and closed",
        c = if refused { "503" } else { "?" }
    ));
    Ok(())
}

async fn redis_down(shop: &DemoShop, rep: &mut Report, g: &str) -> Result<(), CliError> {
    let l = rep.lang();
    let (Some(cart), Some(orders)) = (shop.cart.clone(), shop.orders.clone()) else {
        return Ok(());
    };
    // An order to read while Redis is away.
    let session = shop
        .new_cart(DOCE, 1)
        .await
        .map_err(|e| CliError::Other(format!("cart: {e}")))?;
    let pedido = match shop.checkout(&session, &new_key()).await {
        Checkout::Placed(p) => p.id,
        other => return Err(CliError::Other(format!("checkout: {other:?}"))),
    };
    shop.ctl.kill_service("redis").await?;
    let cart_ready = format!("{cart}/ready");
    shop.wait_for(
        Duration::from_secs(15),
        "the cart notices Redis is gone",
        || async {
            shop.get(&cart_ready, PROBE)
                .await
                .is_ok_and(|r| r.status.as_u16() == 503)
        },
    )
    .await?;
    rep.step(tr!(
        l,
        "Redis derrubado ({how}); o carrinho se declara não pronto (/ready 503)",
        "Redis killed ({how}); the cart says it is not ready (/ready 503)",
        how = shop.ctl.how(Act::Kill, "redis")
    ));
    let browse = shop
        .get(&format!("{g}/api/produtos?limit=3"), PROBE * 2)
        .await
        .map(|r| r.status.as_u16())
        .unwrap_or(0);
    let order = shop.pedido(&pedido).await;
    rep.check(
        browse == 200 && order.is_ok(),
        tr!(
            l,
            "catálogo (HTTP {browse}) e pedidos já feitos ({o}) continuam respondendo",
            "the catalog (HTTP {browse}) and existing orders ({o}) keep answering",
            o = order
                .as_ref()
                .map_or_else(|e| e.clone(), |p| p.status.as_str().to_owned())
        ),
    );
    let t = Instant::now();
    let add = shop
        .send(
            http::Method::POST,
            &format!("{g}/api/carrinho/adicionar"),
            &[],
            Some(&serde_json::json!({"doce_id": DOCE, "quantidade": 1})),
            Duration::from_secs(10),
        )
        .await;
    let took = t.elapsed().as_millis();
    let (s, code, ra) = match &add {
        Ok(r) => (
            r.status.as_u16(),
            super::shop::error_code(r),
            r.header("retry-after").map(str::to_owned),
        ),
        Err(e) => (0, e.clone(), None),
    };
    rep.check(
        s == 503 && ra.is_some(),
        tr!(
            l,
            "o carrinho recusa limpo: HTTP {s} {code}, Retry-After {r}, em {took} ms",
            "the cart refuses cleanly: HTTP {s} {code}, Retry-After {r}, after {took} ms",
            r = ra.as_deref().unwrap_or("-")
        ),
    );
    shop.ctl.start_service("redis").await?;
    let t = Instant::now();
    shop.wait_ready(&cart, SETTLE).await?;
    let back = shop.new_cart(DOCE, 1).await;
    rep.check(
        back.is_ok(),
        tr!(
            l,
            "Redis religado: o carrinho volta em {ms} ms e aceita itens de novo",
            "Redis restarted: the cart is back in {ms} ms and takes items again",
            ms = t.elapsed().as_millis()
        ),
    );
    let pending = std::cell::Cell::new(None);
    let drained = shop
        .wait_for(SETTLE, "the outbox drains", || async {
            let v = shop
                .metrics(&orders)
                .await
                .ok()
                .and_then(|m| sample(&m, "orders_outbox_pending", ""));
            pending.set(v);
            v == Some(0.0)
        })
        .await
        .is_ok();
    rep.check(
        drained,
        tr!(
            l,
            "o outbox dos pedidos esvaziou (orders_outbox_pending = {p})",
            "the orders outbox drained (orders_outbox_pending = {p})",
            p = pending.get().map_or("-".into(), |v| v.to_string())
        ),
    );
    rep.figure(tr!(
        l,
        "sem Redis: carrinho {s} em {took} ms, catálogo {browse}",
        "without Redis: cart {s} in {took} ms, catalog {browse}"
    ));
    Ok(())
}
