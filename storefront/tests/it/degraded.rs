//! Degraded, never broken: with a service down the pages say so in a banner, never with a
//! 500 or a stack trace.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::checkout::{checkout_form, fill_cart};
use crate::harness::{attr, select, text, Page, Shop};

/// No internals on the page.
fn no_internals(page: &Page) {
    assert_ne!(page.status, 500, "{}", page.body);
    for leak in [
        "panicked",
        "RUST_BACKTRACE",
        "store unavailable",
        "connection refused",
        "Error:",
    ] {
        assert!(
            !page.body.contains(leak),
            "page shows {leak:?}: {}",
            page.body
        );
    }
}

#[tokio::test]
async fn cart_store_down_shows_a_banner_not_an_error_page() {
    let shop = Shop::start(1).await;
    let mut b = shop.browser();
    fill_cart(&mut b, &[(1, 1)]).await;
    let csrf = b.csrf("/carrinho").await;
    shop.store.down.store(true, Ordering::SeqCst);

    let page = b.get("/carrinho").await;
    no_internals(&page);
    assert_eq!(page.status, 503);
    let doc = page.html();
    assert!(text(&doc, ".aviso-erro").contains("Não conseguimos abrir seu carrinho agora"));
    assert_eq!(attr(&doc, ".vazio-grande a.botao", "href"), "/carrinho");

    // Adding leads to the cart page with its banner; the vitrine still works.
    let r = b
        .post("/carrinho/adicionar", &[("csrf", &csrf), ("doce_id", "2")])
        .await;
    assert_eq!(r.location(), "/carrinho?aviso=carrinho-fora");
    let page = b.get(r.location()).await;
    no_internals(&page);
    assert_eq!(select(&page.html(), ".aviso-erro").len(), 1);
    let page = b.get("/").await;
    assert_eq!(page.status, 200);
    assert_eq!(select(&page.html(), ".grade .cartao").len(), 12);
    let page = b.get("/finalizar").await;
    no_internals(&page);
    assert_eq!(page.status, 503);

    // Back up: the cart is as it was.
    shop.store.down.store(false, Ordering::SeqCst);
    let doc = b.get("/carrinho").await.html();
    assert_eq!(select(&doc, "tr[data-id='1']").len(), 1);
}

#[tokio::test]
async fn catalog_without_leader_still_browses_and_checkout_asks_to_retry() {
    let mut shop = Shop::start(3).await;
    let mut b = shop.browser();
    fill_cart(&mut b, &[(1, 1)]).await;
    let (csrf, chave) = checkout_form(&mut b).await;

    // Two of three nodes down: the survivor has no leader.
    let leader = shop.cluster.wait_leader(Duration::from_secs(10)).await;
    let others: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    shop.cluster.stop(leader).await;
    shop.cluster.stop(others[0]).await;

    let page = b.get("/").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(select(&page.html(), ".grade .cartao").len(), 12);
    let page = b.get("/produto/3").await;
    assert_eq!(page.status, 200);

    let page = b
        .post("/finalizar", &[("csrf", &csrf), ("chave", &chave)])
        .await;
    no_internals(&page);
    assert_eq!(page.status, 503, "{}", page.body);
    let doc = page.html();
    assert!(
        text(&doc, ".aviso-erro").contains("tente novamente em instantes"),
        "{}",
        page.body
    );
    // The retry carries the same key, so it cannot make a second order.
    assert_eq!(
        attr(&doc, ".form-finalizar input[name=chave]", "value"),
        chave
    );

    // Back to a majority: the same form now lands one order.
    let down = shop
        .cluster
        .running()
        .first()
        .copied()
        .expect("one node still running");
    for id in [leader, others[0]] {
        if id != down {
            shop.cluster.restart(id).await;
        }
    }
    shop.cluster.wait_leader(Duration::from_secs(10)).await;
    let mut last = None;
    for _ in 0..3 {
        let r = b
            .post("/finalizar", &[("csrf", &csrf), ("chave", &chave)])
            .await;
        if r.status == 303 {
            last = Some(r);
            break;
        }
    }
    let r = last.expect("checkout succeeds once the catalog has a leader");
    let doc = b.get(r.location()).await.html();
    assert_eq!(attr(&doc, "#status", "data-status"), "confirmado");
}
