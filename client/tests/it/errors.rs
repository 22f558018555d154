//! Each failure comes back as the [`ClientError`] variant a caller acts on.

use std::time::Duration;

use catalog_node::testing::TestCluster;
use confeitaria_client::{CatalogClient, ClientError, Consistency};
use confeitaria_types::auth::TokenRole;
use confeitaria_types::{Categoria, ItemReserva, NovaReserva};

use crate::admin_client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_tell_not_found_conflict_bad_request_and_unauthorized_apart() {
    let cluster = TestCluster::spawn(3).await;
    cluster.wait_leader(Duration::from_secs(5)).await;
    let admin = admin_client(&cluster);

    assert_eq!(
        admin.doce(999_999, Consistency::Linearizable).await,
        Err(ClientError::NotFound)
    );
    match admin.adjust_estoque(1, -1_000_000).await {
        Err(ClientError::Conflict { code, .. }) => assert_eq!(code, "negative_stock"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    match admin.produtos(1000, 0, Consistency::Local).await {
        Err(ClientError::BadRequest { .. }) => {}
        other => panic!("expected a bad request, got {other:?}"),
    }
    let anonymous = CatalogClient::new(cluster.api_addrs());
    assert!(matches!(
        anonymous.set_estoque(1, 5).await,
        Err(ClientError::Unauthorized(_))
    ));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_has_a_typed_call() {
    let cluster = TestCluster::spawn(3).await;
    cluster.wait_leader(Duration::from_secs(5)).await;
    let admin = admin_client(&cluster);
    let service =
        CatalogClient::new(cluster.api_addrs()).with_token(cluster.token(TokenRole::Service));

    let cats = admin.categorias(Consistency::Linearizable).await.unwrap();
    assert!(!cats.is_empty());
    let nova = Categoria {
        slug: "sem-gluten".into(),
        nome: "Sem glúten".into(),
    };
    let c = admin.criar_categoria(&nova).await.unwrap();
    assert_eq!(c.slug, nova.slug);
    let doce = admin
        .criar_produto(&confeitaria_types::NovoDoce {
            nome: "Brownie".into(),
            descricao: "Sem farinha".into(),
            preco_centavos: 900,
            categoria: nova.slug.clone(),
            estoque: 5,
            ativo: true,
        })
        .await
        .unwrap();
    let por_cat = admin
        .produtos_por_categoria(&nova.slug, Consistency::Linearizable)
        .await
        .unwrap();
    assert_eq!(
        por_cat.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![doce.id]
    );
    let up = admin
        .atualizar_produto(
            doce.id,
            &confeitaria_types::AtualizaDoce {
                preco_centavos: Some(950),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(up.preco_centavos, 950);
    assert_eq!(admin.set_estoque(doce.id, 10).await.unwrap().estoque, 10);
    assert_eq!(admin.adjust_estoque(doce.id, -2).await.unwrap().estoque, 8);
    let e = admin
        .estoque(doce.id, Consistency::Linearizable)
        .await
        .unwrap();
    assert_eq!(e.disponivel, 8);

    let r = NovaReserva {
        emitida_em: None,
        id: "pedido-42".into(),
        itens: vec![ItemReserva {
            doce_id: doce.id,
            quantidade: 3,
        }],
    };
    service.reservar(&r).await.unwrap();
    assert_eq!(
        service.reservar(&r).await.unwrap().id,
        r.id,
        "idempotent by id"
    );
    assert_eq!(
        service
            .obter_reserva(&r.id, Consistency::Linearizable)
            .await
            .unwrap()
            .id,
        r.id
    );
    service.confirmar(&r.id).await.unwrap();
    assert_eq!(
        admin
            .estoque(doce.id, Consistency::Linearizable)
            .await
            .unwrap()
            .vendido,
        3
    );
    let outra = NovaReserva {
        emitida_em: None,
        id: "pedido-43".into(),
        itens: vec![ItemReserva {
            doce_id: doce.id,
            quantidade: 1,
        }],
    };
    service.reservar(&outra).await.unwrap();
    service.liberar(&outra.id).await.unwrap();
    assert_eq!(
        admin
            .estoque(doce.id, Consistency::Linearizable)
            .await
            .unwrap()
            .disponivel,
        5
    );
    let page = admin.produtos(100, 0, Consistency::Local).await.unwrap();
    assert!(page.produtos.iter().any(|d| d.id == doce.id));
    let st = admin.cluster_status().await.unwrap();
    assert_eq!(st.membership.voters.len(), 3);
    cluster.shutdown().await;
}
