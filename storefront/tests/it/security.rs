//! Escaping and CSRF: catalog text is never markup, and no form acts without its token.

use confeitaria_types::NovoDoce;
use http::Method;

use crate::harness::{select, text, Shop};

#[tokio::test]
async fn product_text_is_escaped_everywhere() {
    let shop = Shop::start(1).await;
    let nome = "<script>alert(1)</script>";
    let descricao = "<img src=x onerror=alert(2)> & \"aspas\"";
    let d = shop
        .catalog_admin()
        .criar_produto(&NovoDoce {
            nome: nome.into(),
            descricao: descricao.into(),
            preco_centavos: 100,
            categoria: "bolos".into(),
            estoque: 5,
            ativo: true,
        })
        .await
        .unwrap();
    let mut b = shop.browser();
    let page = b.get(&format!("/produto/{}", d.id)).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains(nome), "raw script tag in the page");
    assert!(!page.body.contains("<img src=x"), "raw img tag in the page");
    assert!(page
        .body
        .contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    let doc = page.html();
    // Shown as text, and the only script is the storefront's own file.
    assert_eq!(text(&doc, "h1.produto-nome"), nome);
    assert_eq!(text(&doc, ".produto-desc"), descricao);
    assert!(select(&doc, "img[onerror]").is_empty());
    let scripts = select(&doc, "script");
    assert_eq!(scripts.len(), 1);
    assert_eq!(scripts[0].value().attr("src"), Some("/static/loja.js"));

    // The vitrine (page 2, where product 21 lands) and the cart escape it too.
    let page = b.get("/?pagina=2").await;
    assert!(!page.body.contains(nome));
    assert_eq!(
        text(
            &page.html(),
            &format!(".cartao[data-id='{}'] .cartao-nome", d.id)
        ),
        nome
    );
    let csrf = b.csrf(&format!("/produto/{}", d.id)).await;
    let id = d.id.to_string();
    b.post("/carrinho/adicionar", &[("csrf", &csrf), ("doce_id", &id)])
        .await;
    let page = b.get("/carrinho").await;
    assert!(!page.body.contains(nome));
    assert_eq!(text(&page.html(), ".c-nome a"), nome);
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_are_refused() {
    let shop = Shop::start(1).await;
    let mut b = shop.browser();
    let good = b.csrf("/produto/1").await;
    let session = b.session();

    // Missing, wrong, and another session's token: 403, and the cart is untouched.
    let mut other = shop.browser();
    let others = other.csrf("/").await;
    for token in ["", "deadbeef", others.as_str()] {
        let r = b
            .post(
                "/carrinho/adicionar",
                &[("csrf", token), ("doce_id", "1"), ("quantidade", "1")],
            )
            .await;
        assert_eq!(r.status, 403, "token {token:?}");
        assert_eq!(text(&r.html(), "h1"), "Formulário expirado");
    }
    let r = b
        .post(
            "/carrinho/adicionar",
            &[("doce_id", "1"), ("quantidade", "1")],
        )
        .await;
    assert_eq!(r.status, 403);
    // A cross-site form has the token of no session: a browser without cookies.
    let mut stranger = shop.browser();
    let r = stranger
        .post(
            "/carrinho/adicionar",
            &[("csrf", &good), ("doce_id", "1"), ("quantidade", "1")],
        )
        .await;
    assert_eq!(r.status, 403);
    let (s, _) = shop
        .api_call(Method::GET, &format!("/api/carrinho/{session}"), &[], None)
        .await;
    assert_eq!(s, 404, "no cart may exist after refused forms");

    // Checkout and admin forms are guarded the same way.
    for path in [
        "/finalizar",
        "/admin/entrar",
        "/carrinho/remover",
        "/admin/sair",
    ] {
        let r = b
            .post(path, &[("csrf", "x"), ("chave", "y"), ("token", "z")])
            .await;
        assert_eq!(r.status, 403, "{path}");
    }

    // With the right token, the same form works.
    let r = b
        .post(
            "/carrinho/adicionar",
            &[("csrf", &good), ("doce_id", "1"), ("quantidade", "1")],
        )
        .await;
    assert_eq!(r.status, 303);
}
