//! Stock, names and prices checked against a real three-node catalog cluster running in this
//! process (`catalog_node::testing`), on both stores; and adds while nodes are down.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cart::catalog::ClientCatalog;
use cart::store::DEFAULT_TTL;
use catalog_node::testing::TestCluster;
use confeitaria_client::{CatalogClient, Consistency};
use confeitaria_types::auth::TokenRole;
use confeitaria_types::Doce;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::harness::{eventually, StoreKind, TableCatalog, TestApp};
use crate::on_both_stores;

/// The cart's catalog deadline in these tests.
const CATALOG_DEADLINE: Duration = Duration::from_secs(2);

on_both_stores!(
    add_checks_stock_name_and_price_against_the_real_catalog,
    adds_keep_working_with_a_node_down_and_with_no_leader,
    catalog_entirely_down_is_503_and_adds_resume_when_a_node_returns,
);

struct ClusterApp {
    app: TestApp,
    cluster: TestCluster,
    admin: CatalogClient,
}

async fn spawn(kind: StoreKind) -> ClusterApp {
    let cluster = TestCluster::spawn(3).await;
    let catalog = Arc::new(ClientCatalog::new(cluster.api_addrs(), CATALOG_DEADLINE));
    let app = TestApp::build(kind, DEFAULT_TTL, catalog, Arc::new(TableCatalog::seeded())).await;
    let admin = CatalogClient::new(cluster.api_addrs()).with_token(cluster.token(TokenRole::Admin));
    ClusterApp {
        app,
        cluster,
        admin,
    }
}

impl ClusterApp {
    /// Waits until every running node's own replica shows product `id` satisfying `pred`.
    async fn replicated(&self, id: u64, pred: impl Fn(&Doce) -> bool) {
        let addrs: Vec<String> = self
            .cluster
            .running()
            .into_iter()
            .map(|n| self.cluster.api_addr(n))
            .collect();
        let ok = eventually(Duration::from_secs(10), || async {
            for addr in &addrs {
                match CatalogClient::new(vec![addr.clone()])
                    .doce(id, Consistency::Local)
                    .await
                {
                    Ok(d) if pred(&d) => {}
                    _ => return false,
                }
            }
            true
        })
        .await;
        assert!(ok, "product {id} never reached every replica");
    }

    /// `PUT /api/produtos/{id}` with an admin token, through any node.
    async fn update(&self, id: u64, body: serde_json::Value) {
        let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
        let addr = self.cluster.api_addr(self.cluster.running()[0]);
        let req = Request::put(format!("http://{addr}/api/produtos/{id}"))
            .header("content-type", "application/json")
            .header(
                "authorization",
                format!("Bearer {}", self.cluster.token(TokenRole::Admin)),
            )
            .body(Body::from(body.to_string()))
            .unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(10), client.request(req))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
}

async fn add_checks_stock_name_and_price_against_the_real_catalog(kind: StoreKind) {
    let c = spawn(kind).await;
    let app = &c.app;
    let doce = c.admin.doce(1, Consistency::Linearizable).await.unwrap();
    c.admin.set_estoque(1, 5).await.unwrap();
    c.replicated(1, |d| d.estoque == 5).await;

    let r = app.add(None, 1, 3).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let sid = r.session();
    assert_eq!(r.json["itens"][0]["nome"], doce.nome.as_str());
    assert_eq!(r.json["itens"][0]["preco_centavos"], doce.preco_centavos);
    assert_eq!(
        r.json["itens"][0]["subtotal_centavos"],
        3 * doce.preco_centavos
    );
    app.add(Some(&sid), 1, 3)
        .await
        .assert_error(StatusCode::CONFLICT, "insufficient_stock");
    assert_eq!(app.add(Some(&sid), 1, 2).await.qty(1), 5);
    app.add(Some(&sid), 1, 1)
        .await
        .assert_error(StatusCode::CONFLICT, "insufficient_stock");

    // More stock arrives: the cart may grow again.
    c.admin.set_estoque(1, 7).await.unwrap();
    c.replicated(1, |d| d.estoque == 7).await;
    assert_eq!(app.add(Some(&sid), 1, 2).await.qty(1), 7);

    app.add(Some(&sid), 999_999, 1)
        .await
        .assert_error(StatusCode::NOT_FOUND, "product_not_found");

    c.update(2, serde_json::json!({"ativo": false})).await;
    c.replicated(2, |d| !d.ativo).await;
    app.add(Some(&sid), 2, 1)
        .await
        .assert_error(StatusCode::CONFLICT, "product_inactive");

    // Reads price from the catalog as it is now.
    c.update(1, serde_json::json!({"preco_centavos": 1234}))
        .await;
    c.replicated(1, |d| d.preco_centavos == 1234).await;
    let g = app.get(&sid).await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.text);
    assert_eq!(g.json["itens"][0]["preco_centavos"], 1234);
    assert_eq!(g.json["total_centavos"], 7 * 1234);
    c.cluster.shutdown().await;
}

async fn adds_keep_working_with_a_node_down_and_with_no_leader(kind: StoreKind) {
    let mut c = spawn(kind).await;
    let leader = c.cluster.wait_leader(Duration::from_secs(10)).await;
    let sid = c.app.new_cart(1, 1).await;

    c.cluster.stop(leader).await;
    let t = Instant::now();
    let r = c.app.add(Some(&sid), 2, 1).await;
    assert_eq!(r.status, StatusCode::OK, "leader down: {}", r.text);
    assert!(t.elapsed() < CATALOG_DEADLINE, "took {:?}", t.elapsed());

    // Two of three down: no majority, so no leader can exist; local reads still answer.
    let second = c.cluster.running()[0];
    c.cluster.stop(second).await;
    let t = Instant::now();
    let r = c.app.add(Some(&sid), 3, 1).await;
    assert_eq!(r.status, StatusCode::OK, "no leader: {}", r.text);
    assert!(t.elapsed() < CATALOG_DEADLINE, "took {:?}", t.elapsed());
    let g = c.app.get(&sid).await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.text);
    assert_eq!(g.json["itens"].as_array().unwrap().len(), 3);
    c.cluster.shutdown().await;
}

async fn catalog_entirely_down_is_503_and_adds_resume_when_a_node_returns(kind: StoreKind) {
    let mut c = spawn(kind).await;
    let sid = c.app.new_cart(1, 1).await;
    for id in c.cluster.running() {
        c.cluster.stop(id).await;
    }
    let t = Instant::now();
    let r = c.app.add(Some(&sid), 2, 1).await;
    r.assert_error(StatusCode::SERVICE_UNAVAILABLE, "catalog_unavailable");
    assert!(r.headers.contains_key("retry-after"));
    assert!(
        t.elapsed() < CATALOG_DEADLINE + Duration::from_millis(700),
        "took {:?}",
        t.elapsed()
    );
    c.app
        .get(&sid)
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "catalog_unavailable");

    // One node back: still no majority, but its replica serves the cart.
    c.cluster.restart(1).await;
    let back = eventually(Duration::from_secs(10), || async {
        c.app.add(Some(&sid), 2, 1).await.status == StatusCode::OK
    })
    .await;
    assert!(back, "adds did not resume with one node back");
    assert_eq!(c.app.get(&sid).await.qty(2), 1);
    c.cluster.shutdown().await;
}
