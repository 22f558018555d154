//! The shopper's pages, asserted by CSS selector on the HTML the storefront serves.

use std::time::Duration;

use confeitaria_client::Consistency;

use crate::harness::{attr, eventually, select, text, Shop};

#[tokio::test]
async fn vitrine_lists_active_products_with_categories_and_pagination() {
    let shop = Shop::start(1).await;
    let mut b = shop.browser();
    let page = b.get("/").await;
    assert_eq!(page.status, 200);
    let doc = page.html();
    // The seed has 20 sweets in 5 categories; 12 a page.
    assert_eq!(select(&doc, ".grade .cartao").len(), 12);
    let chips: Vec<String> = select(&doc, ".categorias .chip")
        .iter()
        .map(|c| c.text().collect::<String>())
        .collect();
    assert_eq!(chips.len(), 6, "{chips:?}");
    assert_eq!(text(&doc, ".chip-ativa"), "Todos");
    assert_eq!(text(&doc, ".pagina-atual"), "Página 1 de 2");
    assert_eq!(attr(&doc, ".paginacao a[rel=next]", "href"), "/?pagina=2");
    assert!(select(&doc, ".paginacao a[rel=prev]").is_empty());
    // Every card has a price in reais and an add form with the page's CSRF token.
    for card in select(&doc, ".grade .cartao") {
        let html = card.html();
        assert!(html.contains("R$ "), "{html}");
    }
    assert!(!attr(&doc, ".form-adicionar input[name=csrf]", "value").is_empty());

    let doc = b.get("/?pagina=2").await.html();
    assert_eq!(select(&doc, ".grade .cartao").len(), 8);
    assert_eq!(attr(&doc, ".paginacao a[rel=prev]", "href"), "/?pagina=1");
    // Out-of-range pages show the last one rather than an error.
    let page = b.get("/?pagina=99").await;
    assert_eq!(page.status, 200);
    assert_eq!(select(&page.html(), ".grade .cartao").len(), 8);
}

#[tokio::test]
async fn category_page_shows_only_that_category() {
    let shop = Shop::start(1).await;
    let mut b = shop.browser();
    let page = b.get("/categoria/tortas").await;
    assert_eq!(page.status, 200);
    let doc = page.html();
    assert_eq!(text(&doc, ".chip-ativa"), "Tortas");
    assert_eq!(text(&doc, "h2.secao"), "Tortas");
    let cats = select(&doc, ".grade .cartao .cartao-cat");
    assert!(!cats.is_empty());
    for c in cats {
        assert_eq!(c.text().collect::<String>(), "Tortas");
    }
    assert_eq!(b.get("/categoria/nao-existe").await.status, 404);
}

#[tokio::test]
async fn sold_out_and_inactive_products_are_shown_as_such() {
    let shop = Shop::start(1).await;
    let admin = shop.catalog_admin();
    admin.set_estoque(1, 0).await.unwrap();
    let mut b = shop.browser();
    // Browsing reads a replica: wait until it has the write.
    assert!(
        eventually(Duration::from_secs(5), || async {
            admin
                .doce(1, Consistency::Local)
                .await
                .is_ok_and(|d| d.estoque == 0)
        })
        .await
    );
    let doc = b.get("/").await.html();
    assert_eq!(
        text(&doc, ".cartao[data-id='1'] .selo-esgotado"),
        "esgotado"
    );
    assert!(select(&doc, ".cartao[data-id='1'] form").is_empty());
    assert!(select(&doc, ".cartao[data-id='2'] .selo-esgotado").is_empty());
    assert_eq!(select(&doc, ".cartao[data-id='2'] form").len(), 1);

    let doc = b.get("/produto/1").await.html();
    assert_eq!(text(&doc, ".produto .selo-esgotado"), "esgotado");
    assert!(select(&doc, ".form-comprar").is_empty());
}

#[tokio::test]
async fn product_page_shows_the_product_and_unknown_pages_are_friendly_404s() {
    let shop = Shop::start(1).await;
    let mut b = shop.browser();
    let page = b.get("/produto/1").await;
    assert_eq!(page.status, 200);
    let doc = page.html();
    assert_eq!(
        text(&doc, "h1.produto-nome"),
        "Bolo de cenoura com chocolate"
    );
    assert_eq!(text(&doc, ".preco-grande"), "R$ 45,00");
    assert_eq!(attr(&doc, ".form-comprar", "action"), "/carrinho/adicionar");
    assert_eq!(
        attr(&doc, ".form-comprar input[name=doce_id]", "value"),
        "1"
    );
    assert_eq!(
        attr(&doc, ".form-comprar input[name=quantidade]", "max"),
        "12"
    );

    for path in [
        "/produto/9999",
        "/produto/abc",
        "/nada-aqui",
        "/pedidos/xyz",
    ] {
        let page = b.get(path).await;
        assert_eq!(page.status, 404, "{path}");
        let doc = page.html();
        assert_eq!(text(&doc, ".erro-codigo"), "404", "{path}");
        assert_eq!(attr(&doc, ".erro a.botao", "href"), "/");
    }
    assert_eq!(b.get("/produtos/1").await.location(), "/produto/1");
}

#[tokio::test]
async fn session_cookie_is_http_only_and_same_site_lax() {
    let shop = Shop::start(1).await;
    let mut b = shop.browser();
    let page = b.get("/").await;
    let cookies = page.set_cookies();
    let sessao = cookies
        .iter()
        .find(|c| c.starts_with("sessao="))
        .expect("a session cookie");
    assert!(sessao.contains("HttpOnly"), "{sessao}");
    assert!(sessao.contains("SameSite=Lax"), "{sessao}");
    assert_eq!(b.session().len(), 32);
    // Once set, it is not set again.
    let again = b.get("/").await;
    assert!(again.set_cookies().is_empty());
    let csp = again.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
}

#[tokio::test]
async fn cart_lines_are_added_changed_and_removed() {
    let shop = Shop::start(1).await;
    let mut b = shop.browser();
    let csrf = b.csrf("/produto/1").await;
    let r = b
        .post(
            "/carrinho/adicionar",
            &[("csrf", &csrf), ("doce_id", "1"), ("quantidade", "2")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/carrinho?aviso=adicionado");
    let doc = b.get(r.location()).await.html();
    assert_eq!(text(&doc, ".aviso-ok"), "Adicionado ao carrinho.");
    assert_eq!(
        attr(&doc, "tr[data-id='1'] input[name=quantidade]", "value"),
        "2"
    );
    assert_eq!(text(&doc, "tr[data-id='1'] .c-sub"), "R$ 90,00");
    assert_eq!(text(&doc, ".total strong"), "R$ 90,00");

    // More units, then fewer.
    for q in ["5", "3"] {
        let r = b
            .post(
                "/carrinho/atualizar",
                &[("csrf", &csrf), ("doce_id", "1"), ("quantidade", q)],
            )
            .await;
        assert_eq!(r.location(), "/carrinho?aviso=atualizado");
        let doc = b.get("/carrinho").await.html();
        assert_eq!(
            attr(&doc, "tr[data-id='1'] input[name=quantidade]", "value"),
            q
        );
    }
    b.post(
        "/carrinho/adicionar",
        &[("csrf", &csrf), ("doce_id", "2"), ("quantidade", "1")],
    )
    .await;
    let r = b
        .post("/carrinho/remover", &[("csrf", &csrf), ("doce_id", "1")])
        .await;
    assert_eq!(r.location(), "/carrinho?aviso=removido");
    let doc = b.get("/carrinho").await.html();
    assert!(select(&doc, "tr[data-id='1']").is_empty());
    assert_eq!(select(&doc, "tr[data-id='2']").len(), 1);
    assert_eq!(text(&doc, ".total strong"), "R$ 32,00");

    // More than the stock: refused with a banner on the product page.
    let r = b
        .post(
            "/carrinho/adicionar",
            &[("csrf", &csrf), ("doce_id", "4"), ("quantidade", "50")],
        )
        .await;
    assert_eq!(r.location(), "/produto/4?aviso=sem-estoque");
    let doc = b.get(r.location()).await.html();
    assert!(text(&doc, ".aviso-erro").contains("Não temos tantas unidades"));

    // Quantity 0 removes the line.
    b.post(
        "/carrinho/atualizar",
        &[("csrf", &csrf), ("doce_id", "2"), ("quantidade", "0")],
    )
    .await;
    let doc = b.get("/carrinho").await.html();
    assert!(select(&doc, "tr[data-id]").is_empty());
    assert_eq!(text(&doc, ".vazio-grande p"), "Seu carrinho está vazio.");
}
