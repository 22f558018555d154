//! Retention on a real three-node cluster (sled files): settled reservations are forgotten
//! alike on every replica — also on a node restarted from its own files and on one caught up
//! by a snapshot install —, a forgotten id sent again moves no stock, and the state and its
//! snapshot shrink back to the live catalog.

use std::time::Duration;

use catalog_node::testing::{test_timing, TestCluster};
use confeitaria_client::config::RaftTiming;
use confeitaria_types::auth::TokenRole;
use http::Method;
use raft_store::NodeId;
use tokio::time::Instant;

use crate::helpers::{call, get};

fn timing(retention_ms: u64) -> RaftTiming {
    RaftTiming {
        retention_ms,
        ..test_timing()
    }
}

fn now_ms() -> u64 {
    catalog_node::retention::now_ms()
}

fn reserva(id: &str, doce: u64, n: u64, emitida_em: Option<u64>) -> String {
    let em = emitida_em.map_or("null".to_owned(), |e| e.to_string());
    format!(r#"{{"id":"{id}","itens":[{{"doce_id":{doce},"quantidade":{n}}}],"emitida_em":{em}}}"#)
}

/// Waits until `f` holds, or fails with `what` after `timeout`.
async fn until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "{what} within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the nodes `ids` have applied the same index, then requires their catalogs —
/// retention bookkeeping included — to be equal.
async fn same_state(c: &TestCluster, ids: &[NodeId]) {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let views: Vec<_> = ids
            .iter()
            .map(|id| {
                let st = c.node(*id).node.state_machine().read();
                (st.last_applied, st.catalog.clone())
            })
            .collect();
        if views.iter().all(|v| v.0 == views[0].0) {
            for (id, v) in ids.iter().zip(&views) {
                assert!(
                    v.1 == views[0].1,
                    "node {id} differs from node {} at {:?}",
                    ids[0],
                    v.0
                );
            }
            return;
        }
        assert!(
            Instant::now() < end,
            "nodes {ids:?} never applied the same index"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Bytes of node `id`'s catalog as a snapshot holds it.
fn size(c: &TestCluster, id: NodeId) -> usize {
    serde_json::to_vec(&c.node(id).node.state_machine().read().catalog)
        .unwrap()
        .len()
}

fn forgotten(c: &TestCluster, id: NodeId) -> u64 {
    c.node(id)
        .node
        .state_machine()
        .read()
        .catalog
        .retention
        .forgotten
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_is_identical_on_every_replica_after_restart_and_snapshot_install() {
    let mut c = TestCluster::spawn_with(3, timing(1_500)).await;
    let leader = c.wait_leader(Duration::from_secs(5)).await;
    let others: Vec<NodeId> = c.running().into_iter().filter(|i| *i != leader).collect();
    let (behind, follower) = (others[0], others[1]);
    let admin = c.token(TokenRole::Admin);
    let service = c.token(TokenRole::Service);
    let addr = c.api_addr(follower);
    for (doce, n) in [(1, 1000), (2, 0)] {
        let body = format!(r#"{{"estoque":{n}}}"#);
        let path = format!("/api/produtos/{doce}/estoque");
        let r = call(&addr, Method::PUT, &path, Some(&body), Some(&admin)).await;
        assert_eq!(r.status, 200, "{:?}", r.json);
    }
    // One node misses everything that follows; it will need a snapshot to catch up.
    c.stop(behind).await;
    let base = size(&c, leader);

    // 240 reservations settled three ways, 10 refusals, 5 left open: far more entries than
    // `snapshot_every` (200), so the leader's log is purged behind a snapshot.
    let n: u64 = 240;
    let mut tasks = Vec::new();
    for w in 0..4 {
        let (addr, service) = (addr.clone(), service.clone());
        tasks.push(tokio::spawn(async move {
            for i in (w..n).step_by(4) {
                let id = format!("r{i}");
                let r = call(
                    &addr,
                    Method::POST,
                    "/api/reservas",
                    Some(&reserva(&id, 1, 1, None)),
                    Some(&service),
                )
                .await;
                assert_eq!(r.status, 201, "{:?}", r.json);
                let steps: &[(Method, String)] = match i % 3 {
                    0 => &[(Method::DELETE, format!("/api/reservas/{id}"))],
                    1 => &[
                        (Method::POST, format!("/api/reservas/{id}/confirmar")),
                        (Method::POST, format!("/api/reservas/{id}/encerrar")),
                    ],
                    _ => &[
                        (Method::POST, format!("/api/reservas/{id}/confirmar")),
                        (Method::DELETE, format!("/api/reservas/{id}")),
                    ],
                };
                for (m, path) in steps {
                    let r = call(&addr, m.clone(), path, None, Some(&service)).await;
                    assert_eq!(r.status, 200, "{path}: {:?}", r.json);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for i in 0..10 {
        let r = call(
            &addr,
            Method::POST,
            "/api/reservas",
            Some(&reserva(&format!("x{i}"), 2, 1, None)),
            Some(&service),
        )
        .await;
        assert_eq!(r.code(), "insufficient_stock");
    }
    for i in 0..5 {
        let r = call(
            &addr,
            Method::POST,
            "/api/reservas",
            Some(&reserva(&format!("open{i}"), 1, 1, None)),
            Some(&service),
        )
        .await;
        assert_eq!(r.status, 201);
    }

    // Everything settled is forgotten once its window has passed, and nothing else.
    let settled = n + 10;
    until(
        Duration::from_secs(15),
        "every settled record forgotten",
        || forgotten(&c, leader) == settled && forgotten(&c, follower) == settled,
    )
    .await;
    same_state(&c, &[leader, follower]).await;
    {
        let st = c.node(leader).node.state_machine().read();
        let kept: Vec<&String> = st.catalog.reservas.keys().collect();
        assert_eq!(kept, ["open0", "open1", "open2", "open3", "open4"]);
        assert!(st.catalog.refusals.is_empty());
        assert_eq!(st.catalog.retention.retained(), 0);
        let e = st.catalog.stock(1).unwrap();
        // 80 closed sales stay sold; the rest came back; 5 are held.
        assert_eq!((e.vendido, e.reservado, e.disponivel), (80, 5, 915));
    }

    // The leader snapshots the state with nothing settled left, and purges its log behind
    // it: the node that missed it all catches up by installing that snapshot, and agrees.
    let before = c.node(leader).node.state_machine().snapshot_bytes();
    c.node(leader)
        .node
        .raft()
        .trigger()
        .snapshot()
        .await
        .unwrap();
    until(
        Duration::from_secs(10),
        "a new snapshot on the leader",
        || c.node(leader).node.state_machine().snapshot_bytes() != before,
    )
    .await;
    c.restart(behind).await;
    same_state(&c, &[leader, follower, behind]).await;
    assert!(
        c.node(behind).node.state_machine().snapshot_bytes() > 0,
        "caught up without a snapshot"
    );
    assert_eq!(forgotten(&c, behind), settled);

    // The leader restarted from its own files (snapshot + log replay) agrees too.
    c.stop(leader).await;
    c.restart(leader).await;
    c.wait_leader(Duration::from_secs(5)).await;
    same_state(&c, &[leader, follower, behind]).await;

    // And the state and its snapshots follow the live catalog, not its history: back to
    // the size before the 255 reservations (kept, they would take some 20 kB), but for the
    // 5 still open.
    let live = size(&c, follower);
    assert!(
        live < base + 1_000,
        "live {live} bytes vs {base} at the start"
    );
    for id in c.running() {
        let h = &c.node(id).node;
        h.raft().trigger().snapshot().await.unwrap();
        until(
            Duration::from_secs(10),
            "a snapshot of the live state",
            || {
                let b = h.state_machine().snapshot_bytes() as usize;
                b > 0 && b < base + 1_000
            },
        )
        .await;
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_id_sent_again_neither_reserves_nor_returns_stock() {
    let c = TestCluster::spawn_with(3, timing(400)).await;
    let leader = c.wait_leader(Duration::from_secs(5)).await;
    let follower = c.running().into_iter().find(|i| *i != leader).unwrap();
    let addr = c.api_addr(follower);
    let service = c.token(TokenRole::Service);
    let admin = c.token(TokenRole::Admin);
    let r = call(
        &addr,
        Method::PUT,
        "/api/produtos/1/estoque",
        Some(r#"{"estoque":10}"#),
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 200);

    let issued = now_ms();
    let sold = reserva("vendida", 1, 3, Some(issued));
    let back = reserva("devolvida", 1, 2, Some(issued));
    for (body, steps) in [(&sold, &["confirmar", "encerrar"][..]), (&back, &[][..])] {
        let r = call(
            &addr,
            Method::POST,
            "/api/reservas",
            Some(body),
            Some(&service),
        )
        .await;
        assert_eq!(r.status, 201, "{:?}", r.json);
        let id = r.json["id"].as_str().unwrap().to_owned();
        for s in steps {
            let r = call(
                &addr,
                Method::POST,
                &format!("/api/reservas/{id}/{s}"),
                None,
                Some(&service),
            )
            .await;
            assert_eq!(r.status, 200, "{s}: {:?}", r.json);
        }
    }
    let r = call(
        &addr,
        Method::DELETE,
        "/api/reservas/devolvida",
        None,
        Some(&service),
    )
    .await;
    assert_eq!(r.status, 200);

    until(
        Duration::from_secs(10),
        "both forgotten on every node",
        || c.running().iter().all(|id| forgotten(&c, *id) == 2),
    )
    .await;
    for id in ["vendida", "devolvida"] {
        let r = call(
            &addr,
            Method::GET,
            &format!("/api/reservas/{id}"),
            None,
            Some(&service),
        )
        .await;
        assert_eq!(r.status, 404, "{id} still known");
    }
    let stock = || async {
        let r = get(&addr, "/api/produtos/1/estoque").await;
        (
            r.json["disponivel"].as_u64(),
            r.json["vendido"].as_u64(),
            r.json["reservado"].as_u64(),
        )
    };
    let before = stock().await;
    assert_eq!(before, (Some(7), Some(3), Some(0)));

    // The same requests again, as first issued (a saga resumed late, say): refused, and no
    // stock moves.
    for body in [&sold, &back] {
        let r = call(
            &addr,
            Method::POST,
            "/api/reservas",
            Some(body),
            Some(&service),
        )
        .await;
        assert_eq!(
            (r.status, r.code()),
            (409, "reservation_expired"),
            "{:?}",
            r.json
        );
    }
    let r = call(
        &addr,
        Method::POST,
        "/api/reservas/vendida/confirmar",
        None,
        Some(&service),
    )
    .await;
    assert_eq!(r.status, 404);
    // A late release leaves a tombstone and returns nothing: the units stay sold.
    let r = call(
        &addr,
        Method::DELETE,
        "/api/reservas/vendida",
        None,
        Some(&service),
    )
    .await;
    assert_eq!(
        (r.status, r.json["estado"].as_str()),
        (200, Some("liberada"))
    );
    assert_eq!(stock().await, before);
    // A new reservation issued now goes through.
    let r = call(
        &addr,
        Method::POST,
        "/api/reservas",
        Some(&reserva("nova", 1, 1, Some(now_ms()))),
        Some(&service),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    c.shutdown().await;
}
