//! The admin area: login with an admin token, products, stock, order transitions.

use confeitaria_client::Consistency;
use confeitaria_types::auth::TokenRole;

use crate::checkout::{checkout_form, fill_cart};
use crate::harness::{attr, select, text, token, Browser, Shop};

async fn login(b: &mut Browser) {
    let csrf = b.csrf("/admin/entrar").await;
    let t = token(TokenRole::Admin);
    let r = b
        .post("/admin/entrar", &[("csrf", &csrf), ("token", &t)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/admin?aviso=entrou");
    let c = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("admin="))
        .unwrap();
    for want in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(c.contains(want), "{c}");
    }
}

#[tokio::test]
async fn admin_pages_need_an_admin_token() {
    let shop = Shop::start(1).await;
    let mut b = shop.browser();
    for path in [
        "/admin",
        "/admin/pedidos",
        "/admin/produtos/1",
        "/admin/produtos/novo",
    ] {
        let r = b.get(path).await;
        assert_eq!(r.status, 303, "{path}");
        assert_eq!(r.location(), "/admin/entrar", "{path}");
    }
    let csrf = b.csrf("/admin/entrar").await;
    for bad in ["garbage", &token(TokenRole::Service)] {
        let r = b
            .post("/admin/entrar", &[("csrf", &csrf), ("token", bad)])
            .await;
        assert_eq!(r.status, 401);
        assert!(text(&r.html(), ".aviso-erro").starts_with("Token recusado"));
        assert!(!b.cookies.contains_key("admin"));
    }
    login(&mut b).await;
    let doc = b.get("/admin").await.html();
    assert_eq!(select(&doc, ".admin-produtos tbody tr").len(), 20);
    // Logging out forgets the token.
    let r = b.post("/admin/sair", &[("csrf", &csrf)]).await;
    assert_eq!(r.location(), "/admin/entrar?aviso=saiu");
    assert!(!b.cookies.contains_key("admin"));
    assert_eq!(b.get("/admin").await.status, 303);
}

#[tokio::test]
async fn admin_creates_edits_stocks_and_deactivates_a_product() {
    let shop = Shop::start(1).await;
    let mut b = shop.browser();
    login(&mut b).await;
    let csrf = b.csrf("/admin/produtos/novo").await;
    let r = b
        .post(
            "/admin/produtos",
            &[
                ("csrf", &csrf),
                ("nome", "Pudim de leite"),
                ("descricao", "Com calda de caramelo"),
                ("preco", "18,50"),
                ("categoria", "doces-finos"),
                ("estoque", "7"),
                ("ativo", "sim"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let loc = r.location().to_owned();
    assert!(loc.ends_with("?aviso=criado"), "{loc}");
    let id: u64 = loc
        .trim_start_matches("/admin/produtos/")
        .trim_end_matches("?aviso=criado")
        .parse()
        .unwrap();
    let doc = b.get(&loc).await.html();
    assert_eq!(
        attr(&doc, ".form-produto input[name=nome]", "value"),
        "Pudim de leite"
    );
    assert_eq!(
        attr(&doc, ".form-produto input[name=preco]", "value"),
        "18,50"
    );
    assert_eq!(text(&doc, ".contadores div:first-child dd"), "7");

    // A bad price is refused on the form, keeping what was typed.
    let r = b
        .post(
            &format!("/admin/produtos/{id}"),
            &[
                ("csrf", &csrf),
                ("nome", "Pudim"),
                ("preco", "caro"),
                ("categoria", "doces-finos"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        attr(&r.html(), ".form-produto input[name=preco]", "value"),
        "caro"
    );

    let r = b
        .post(
            &format!("/admin/produtos/{id}"),
            &[
                ("csrf", &csrf),
                ("nome", "Pudim de leite condensado"),
                ("descricao", "Com calda"),
                ("preco", "19"),
                ("categoria", "doces-finos"),
                ("ativo", "sim"),
            ],
        )
        .await;
    assert_eq!(r.location(), format!("/admin/produtos/{id}?aviso=salvo"));
    let r = b
        .post(
            &format!("/admin/produtos/{id}/estoque"),
            &[("csrf", &csrf), ("estoque", "30")],
        )
        .await;
    assert_eq!(r.location(), format!("/admin/produtos/{id}?aviso=estoque"));
    let admin = shop.catalog_admin();
    let d = admin.doce(id, Consistency::Linearizable).await.unwrap();
    assert_eq!(
        (d.nome.as_str(), d.preco_centavos, d.estoque, d.ativo),
        ("Pudim de leite condensado", 1900, 30, true)
    );

    // Deactivated: gone from the shop's product page.
    let r = b
        .post(
            &format!("/admin/produtos/{id}/ativo"),
            &[("csrf", &csrf), ("ativo", "nao")],
        )
        .await;
    assert_eq!(r.location(), format!("/admin/produtos/{id}?aviso=salvo"));
    assert!(
        !admin
            .doce(id, Consistency::Linearizable)
            .await
            .unwrap()
            .ativo
    );
    let doc = b.get(&format!("/admin/produtos/{id}")).await.html();
    assert_eq!(attr(&doc, ".form-ativo input[name=ativo]", "value"), "sim");
}

#[tokio::test]
async fn admin_moves_orders_only_along_legal_transitions() {
    let shop = Shop::start(1).await;
    let mut shopper = shop.browser();
    fill_cart(&mut shopper, &[(7, 1)]).await;
    let (csrf, chave) = checkout_form(&mut shopper).await;
    let r = shopper
        .post("/finalizar", &[("csrf", &csrf), ("chave", &chave)])
        .await;
    let id = r.location().trim_start_matches("/pedidos/").to_owned();

    let mut b = shop.browser();
    login(&mut b).await;
    let doc = b.get("/admin/pedidos").await.html();
    assert_eq!(select(&doc, &format!("tr[data-id='{id}']")).len(), 1);
    assert_eq!(
        b.get(&format!("/admin/pedidos?id={id}")).await.location(),
        format!("/admin/pedidos/{id}")
    );

    let csrf = b.csrf("/admin").await;
    for (from, buttons, next) in [
        ("confirmado", vec!["pago", "cancelado"], "pago"),
        ("pago", vec!["enviado", "cancelado"], "enviado"),
        ("enviado", vec!["entregue"], "entregue"),
    ] {
        let doc = b.get(&format!("/admin/pedidos/{id}")).await.html();
        assert_eq!(attr(&doc, ".pedido", "data-status"), from);
        let got: Vec<&str> = select(&doc, ".transicoes button")
            .iter()
            .map(|e| e.value().attr("data-status").unwrap())
            .collect();
        assert_eq!(got, buttons);
        let r = b
            .post(
                &format!("/admin/pedidos/{id}/status"),
                &[("csrf", &csrf), ("status", next)],
            )
            .await;
        assert_eq!(r.location(), format!("/admin/pedidos/{id}?aviso=status"));
    }
    let doc = b.get(&format!("/admin/pedidos/{id}")).await.html();
    assert_eq!(attr(&doc, ".pedido", "data-status"), "entregue");
    assert!(select(&doc, ".transicoes button").is_empty());
    // An illegal move, posted by hand, is refused with a banner.
    let r = b
        .post(
            &format!("/admin/pedidos/{id}/status"),
            &[("csrf", &csrf), ("status", "pago")],
        )
        .await;
    assert_eq!(
        r.location(),
        format!("/admin/pedidos/{id}?aviso=status-recusado")
    );
    // The shopper's page agrees.
    let doc = shopper.get(&format!("/pedidos/{id}")).await.html();
    assert_eq!(attr(&doc, "#status", "data-status"), "entregue");
}
