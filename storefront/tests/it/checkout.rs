//! Checkout with its one-time key, the order page with its live events, and "meus pedidos".

use std::time::Duration;

use confeitaria_client::transport::Transport;
use confeitaria_client::Consistency;
use confeitaria_types::auth::TokenRole;
use http::Method;
use serde_json::json;

use crate::harness::{attr, read_sse_until, select, text, token, Browser, Shop};

/// Adds `(doce_id, units)` to `b`'s cart.
pub async fn fill_cart(b: &mut Browser, itens: &[(u64, u64)]) {
    let csrf = b.csrf("/produto/1").await;
    for (id, q) in itens {
        let r = b
            .post(
                "/carrinho/adicionar",
                &[
                    ("csrf", &csrf),
                    ("doce_id", &id.to_string()),
                    ("quantidade", &q.to_string()),
                ],
            )
            .await;
        assert_eq!(r.location(), "/carrinho?aviso=adicionado");
    }
}

/// Opens the checkout page: its CSRF token and one-time key.
pub async fn checkout_form(b: &mut Browser) -> (String, String) {
    let page = b.get("/finalizar").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let doc = page.html();
    let csrf = attr(&doc, ".form-finalizar input[name=csrf]", "value");
    let chave = attr(&doc, ".form-finalizar input[name=chave]", "value");
    assert_eq!(chave.len(), 32);
    (csrf, chave)
}

#[tokio::test]
async fn a_double_submitted_checkout_makes_one_order() {
    let shop = Shop::start(1).await;
    let mut b = shop.browser();
    fill_cart(&mut b, &[(1, 2), (5, 1)]).await;
    let (csrf, chave) = checkout_form(&mut b).await;
    // A second rendering of the form draws another key.
    let (_, other) = checkout_form(&mut b).await;
    assert_ne!(chave, other);

    let form = [("csrf", csrf.as_str()), ("chave", chave.as_str())];
    // Two clicks at once, then a resubmit after the fact.
    let mut b2 = b.window();
    let (r1, r2) = tokio::join!(b.post("/finalizar", &form), b2.post("/finalizar", &form));
    let r3 = b.post("/finalizar", &form).await;
    for r in [&r1, &r2, &r3] {
        assert_eq!(r.status, 303, "{}", r.body);
    }
    assert!(r1.location().starts_with("/pedidos/"), "{}", r1.location());
    assert_eq!(r1.location(), r2.location());
    assert_eq!(r1.location(), r3.location());

    // One order's worth of stock moved: 2 of product 1, 1 of product 5.
    let admin = shop.catalog_admin();
    let e1 = admin.estoque(1, Consistency::Linearizable).await.unwrap();
    let e5 = admin.estoque(5, Consistency::Linearizable).await.unwrap();
    assert_eq!((e1.reservado, e5.reservado), (2, 1));
    assert_eq!(
        shop.orders.saga.store.events(&r1.location()[9..]).unwrap()[0].seq,
        1
    );

    // The order page: confirmed, its items, its timeline.
    let page = b.get(r1.location()).await;
    assert_eq!(page.status, 200);
    let doc = page.html();
    assert_eq!(attr(&doc, "#status", "data-status"), "confirmado");
    assert_eq!(text(&doc, "#status"), "Confirmado");
    assert_eq!(select(&doc, ".resumo-itens li").len(), 2);
    assert_eq!(text(&doc, ".total strong"), "R$ 155,00");
    let tipos: Vec<&str> = select(&doc, "#linha-do-tempo li")
        .iter()
        .map(|li| li.value().attr("data-tipo").unwrap())
        .collect();
    assert_eq!(tipos, ["criado", "confirmado"]);
    // After a confirmed order the cart is empty.
    let doc = b.get("/carrinho").await.html();
    assert!(select(&doc, "tr[data-id]").is_empty());
}

#[tokio::test]
async fn order_page_relays_the_orders_event_stream() {
    order_events_reach_the_page(true).await;
}

#[tokio::test]
async fn order_page_polls_the_event_log_when_the_api_has_no_stream() {
    order_events_reach_the_page(false).await;
}

/// The order page's stream, opened after the page's last event, carries exactly the admin's
/// status changes, in order.
async fn order_events_reach_the_page(upstream_stream: bool) {
    let shop = Shop::start_with(1, upstream_stream).await;
    let mut b = shop.browser();
    fill_cart(&mut b, &[(2, 1)]).await;
    let (csrf, chave) = checkout_form(&mut b).await;
    let r = b
        .post("/finalizar", &[("csrf", &csrf), ("chave", &chave)])
        .await;
    let id = r.location().trim_start_matches("/pedidos/").to_owned();
    let doc = b.get(r.location()).await.html();
    let seq = attr(&doc, "#pedido", "data-seq");
    assert_eq!(seq, "2");

    let auth = format!("Bearer {}", token(TokenRole::Admin));
    for s in ["pago", "enviado", "entregue"] {
        let (st, v) = shop
            .api_call(
                Method::PUT,
                &format!("/api/pedidos/{id}/status"),
                &[("authorization", &auth)],
                Some(json!({ "status": s })),
            )
            .await;
        assert_eq!(st, 200, "{v}");
    }
    let cookie = format!("sessao={}", b.session());
    let url = format!("{}/pedidos/{id}/eventos?desde={seq}", shop.url);
    let (status, kind, body) =
        read_sse_until(&url, &cookie, "\"entregue\"", Duration::from_secs(10)).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/event-stream"), "{kind}");
    let tipos: Vec<String> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| {
            serde_json::from_str::<serde_json::Value>(d.trim()).unwrap()["tipo"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        tipos,
        ["pagamento_solicitado", "pago", "enviado", "entregue"],
        "{body}"
    );
    assert!(
        body.contains("event: pedido") || body.contains("event:pedido"),
        "{body}"
    );
    assert!(
        body.contains("id: 3\n") || body.contains("id:3\n"),
        "{body}"
    );

    // Another session gets no stream, and the page shows the final status on reload.
    let r = Transport::http()
        .send(
            Method::GET,
            &format!("{}/pedidos/{id}/eventos", shop.url),
            &[("cookie", &format!("sessao={}", "a".repeat(32)))],
            None,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    let doc = b.get(&format!("/pedidos/{id}")).await.html();
    assert_eq!(attr(&doc, "#status", "data-status"), "entregue");
}

#[tokio::test]
async fn my_orders_lists_this_browsers_orders_only() {
    let shop = Shop::start(1).await;
    let mut b = shop.browser();
    let mut ids = Vec::new();
    for doce in [3, 6] {
        fill_cart(&mut b, &[(doce, 1)]).await;
        let (csrf, chave) = checkout_form(&mut b).await;
        let r = b
            .post("/finalizar", &[("csrf", &csrf), ("chave", &chave)])
            .await;
        let cookie = r
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with("pedidos="))
            .unwrap();
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        ids.push(r.location().trim_start_matches("/pedidos/").to_owned());
    }
    let doc = b.get("/meus-pedidos").await.html();
    let listed: Vec<&str> = select(&doc, ".pedido-linha")
        .iter()
        .map(|li| li.value().attr("data-id").unwrap())
        .collect();
    assert_eq!(listed, [ids[1].as_str(), ids[0].as_str()], "newest first");

    // Another browser sees none of them, even with the ids forged into its cookie.
    let mut other = shop.browser();
    other.get("/").await;
    other.cookies.insert("pedidos".into(), ids.join("."));
    let doc = other.get("/meus-pedidos").await.html();
    assert!(select(&doc, ".pedido-linha").is_empty());
    assert_eq!(other.get(&format!("/pedidos/{}", ids[0])).await.status, 404);
}
