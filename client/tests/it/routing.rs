//! Leader-first writes, learning the cluster from one address, the circuit breaker.

use std::time::Duration;

use catalog_node::testing::TestCluster;
use confeitaria_client::{CatalogClient, Consistency, NodeState};

use crate::proxy::Proxy;
use crate::{admin_client, eventually, wait_replicated};

fn answers_by_addr(c: &CatalogClient) -> std::collections::BTreeMap<String, u64> {
    c.nodes().into_iter().map(|n| (n.addr, n.answers)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_go_straight_to_the_leader_not_through_a_follower() {
    let cluster = TestCluster::spawn(3).await;
    let leader = cluster.wait_leader(Duration::from_secs(5)).await;
    let client = admin_client(&cluster);
    client.refresh().await.unwrap();
    let before = answers_by_addr(&client);
    for i in 0..10 {
        client.set_estoque(1, 100 + i).await.unwrap();
    }
    let after = answers_by_addr(&client);
    let leader_addr = cluster.api_addr(leader);
    for (addr, n) in &after {
        let sent = n - before.get(addr).copied().unwrap_or(0);
        if *addr == leader_addr {
            assert_eq!(sent, 10, "every write answered by the leader");
        } else {
            assert_eq!(sent, 0, "no write sent to follower {addr}");
        }
    }
    assert_eq!(client.leader(), Some(leader));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_given_one_follower_learns_the_cluster_and_finds_the_leader() {
    let cluster = TestCluster::spawn(3).await;
    let leader = cluster.wait_leader(Duration::from_secs(5)).await;
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let client = CatalogClient::new(vec![cluster.api_addr(follower)])
        .with_token(cluster.token(confeitaria_types::auth::TokenRole::Admin));
    let doce = client.set_estoque(2, 7).await.unwrap();
    assert_eq!(doce.estoque, 7);
    let nodes = client.nodes();
    assert_eq!(nodes.len(), 3, "learned every node: {nodes:?}");
    assert!(nodes
        .iter()
        .any(|n| n.leader && n.addr == cluster.api_addr(leader)));
    cluster.shutdown().await;
}

/// Three proxies in front of the cluster's nodes, and a client that knows only them (local
/// reads never ask for the membership, so the client sees nothing but the proxies).
async fn behind_proxies(cluster: &TestCluster) -> (Vec<Proxy>, CatalogClient) {
    let mut proxies = Vec::new();
    for addr in cluster.api_addrs() {
        proxies.push(Proxy::start(addr).await);
    }
    let client = CatalogClient::new(proxies.iter().map(Proxy::addr).collect());
    (proxies, client)
}

fn info(client: &CatalogClient, addr: &str) -> confeitaria_client::NodeInfo {
    client.nodes().into_iter().find(|n| n.addr == addr).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_node_is_skipped_and_later_used_again() {
    let cluster = TestCluster::spawn(3).await;
    wait_replicated(&cluster).await;
    let (mut proxies, client) = behind_proxies(&cluster).await;
    let down_addr = proxies[1].addr();
    proxies[1].down().await;

    for _ in 0..30 {
        client.doce(1, Consistency::Local).await.unwrap();
    }
    let seen = info(&client, &down_addr);
    assert_eq!(seen.state, NodeState::Down);
    assert!(
        seen.attempts <= 3,
        "a down node is skipped, not tried on every call: {seen:?}"
    );
    assert_eq!(seen.answers, 0);

    proxies[1].up().await;
    eventually(Duration::from_secs(10), "the node answers again", || {
        let client = client.clone();
        let down_addr = down_addr.clone();
        async move {
            client.doce(1, Consistency::Local).await.unwrap();
            let n = info(&client, &down_addr);
            n.state == NodeState::Up && n.answers > 0
        }
    })
    .await;
    // Back in the rotation: it takes its share of the next calls.
    let before = info(&client, &down_addr).answers;
    for _ in 0..9 {
        client.doce(1, Consistency::Local).await.unwrap();
    }
    assert!(info(&client, &down_addr).answers >= before + 2);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_down_brings_a_node_back_without_a_call() {
    let cluster = TestCluster::spawn(3).await;
    wait_replicated(&cluster).await;
    let (mut proxies, client) = behind_proxies(&cluster).await;
    let down_addr = proxies[2].addr();
    proxies[2].down().await;
    assert!(
        client.probe_down().await.is_empty(),
        "nothing is known down yet"
    );
    // Reads round-robin, so within three of them the unreachable node is tried once.
    for _ in 0..3 {
        client.doce(1, Consistency::Local).await.unwrap();
    }
    assert_eq!(info(&client, &down_addr).state, NodeState::Down);
    assert!(client.probe_down().await.is_empty(), "still down");
    proxies[2].up().await;
    assert_eq!(client.probe_down().await, vec![down_addr.clone()]);
    assert_eq!(info(&client, &down_addr).state, NodeState::Up);
    cluster.shutdown().await;
}
