//! Learners and safe membership, on in-process clusters (real sockets, real sled): a learner
//! joins by itself and serves reads; a voter's removal is refused while another voter is
//! silent; a removed node says so.

use std::time::Duration;

use catalog_node::membership::ACTIVE_WITHIN;
use catalog_node::testing::TestCluster;
use confeitaria_types::auth::TokenRole;
use http::Method;
use tokio::time::Instant;

use crate::helpers::{call, get, Reply};

async fn set_stock(addr: &str, token: &str, id: u64, n: u64) -> Reply {
    call(
        addr,
        Method::PUT,
        &format!("/api/produtos/{id}/estoque"),
        Some(&format!("{{\"estoque\":{n}}}")),
        Some(token),
    )
    .await
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + timeout;
    while !f().await {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_joins_by_itself_and_serves_local_and_linearizable_reads() {
    let mut c = TestCluster::spawn(3).await;
    let admin = c.token(TokenRole::Admin);
    let learner = c.spawn_learner(4).await;
    c.wait_member(4, Duration::from_secs(10)).await;

    let members = get(&c.api_addr(1), "/cluster/members").await;
    assert_eq!(members.status, 200, "{}", members.json);
    assert_eq!(members.json["voters"], serde_json::json!([1, 2, 3]));
    assert_eq!(members.json["learners"], serde_json::json!([4]));
    assert_eq!(members.json["nodes"]["4"]["api_addr"], learner.api_addr);
    let st = get(&learner.api_addr, "/cluster/status").await;
    assert_eq!(st.json["role"], "learner", "{}", st.json);

    for round in 0..5u64 {
        // Written through a voter, read back on the learner at once: the read asks the
        // leader for its read index and waits until the learner has applied it.
        let r = set_stock(&c.api_addr(round % 3 + 1), &admin, 2, 300 + round).await;
        assert_eq!(r.status, 200, "{}", r.json);
        let r = get(
            &learner.api_addr,
            "/api/produtos/2?consistency=linearizable",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.json["estoque"], 300 + round, "stale linearizable read");
        assert_eq!(r.header("x-served-by"), Some("4"));
    }
    wait_for(
        "a local read on the learner",
        Duration::from_secs(5),
        || {
            let a = learner.api_addr.clone();
            async move {
                let r = get(&a, "/api/produtos/2?consistency=local").await;
                r.status == 200 && r.json["estoque"] == 304
            }
        },
    )
    .await;
    // A write sent to the learner is forwarded to the leader.
    let r = set_stock(&learner.api_addr, &admin, 2, 400).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let ready = get(&learner.api_addr, "/ready").await;
    assert_eq!(ready.status, 200, "{}", ready.json);

    // The learner never votes: stopping it changes neither the voters nor the leader.
    let leader = c.wait_leader(Duration::from_secs(5)).await;
    c.stop(4).await;
    assert_eq!(
        set_stock(&c.api_addr(leader), &admin, 2, 401).await.status,
        200
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_voter_while_another_is_down_is_refused() {
    let mut c = TestCluster::spawn(3).await;
    let admin = c.token(TokenRole::Admin);
    let leader = c.wait_leader(Duration::from_secs(5)).await;
    let followers: Vec<u64> = c.running().into_iter().filter(|i| *i != leader).collect();
    let (down, healthy) = (followers[0], followers[1]);
    c.stop(down).await;
    wait_for(
        "the leader to miss the stopped voter",
        Duration::from_secs(10),
        || {
            let a = c.api_addr(leader);
            async move {
                let st = get(&a, "/cluster/status").await;
                st.json["last_contact_ms"][down.to_string()]
                    .as_u64()
                    .is_some_and(|ms| u128::from(ms) > ACTIVE_WITHIN.as_millis())
            }
        },
    )
    .await;

    let r = call(
        &c.api_addr(healthy),
        Method::DELETE,
        &format!("/cluster/members/{healthy}"),
        None,
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.json);
    assert_eq!(r.code(), "unsafe_reconfiguration");
    let message = r.json["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("silent: {down}")), "{message}");
    let members = get(&c.api_addr(leader), "/cluster/members").await;
    assert_eq!(members.json["voters"], serde_json::json!([1, 2, 3]));

    // Removing the silent voter itself leaves two voters in contact: allowed.
    let r = call(
        &c.api_addr(leader),
        Method::DELETE,
        &format!("/cluster/members/{down}"),
        None,
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let members = get(&c.api_addr(leader), "/cluster/members").await;
    let voters: Vec<u64> = serde_json::from_value(members.json["voters"].clone()).unwrap();
    assert_eq!(voters.len(), 2, "{}", members.json);
    assert!(!voters.contains(&down));
    // An unknown member is a 404, not a change.
    let r = call(
        &c.api_addr(leader),
        Method::DELETE,
        "/cluster/members/99",
        None,
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.json);
    c.shutdown().await;
}

/// Checks that `addr` answers as a node removed from a membership of `members`.
async fn assert_removed(addr: &str, me: u64, members: &[u64]) {
    wait_for(
        &format!("node {me} to know it was removed"),
        Duration::from_secs(10),
        || {
            let a = addr.to_owned();
            async move { get(&a, "/cluster/status").await.json["role"] == "removed" }
        },
    )
    .await;
    let r = get(addr, "/api/produtos/1").await;
    assert_eq!(r.status, 503, "{}", r.json);
    assert_eq!(r.code(), "not_a_member");
    let message = r.json["error"]["message"].as_str().unwrap();
    for m in members {
        assert!(message.contains(&format!("{m} (127.0.0.1:")), "{message}");
    }
    let ready = get(addr, "/ready").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.code(), "not_a_member");
    let mine = get(addr, "/cluster/members").await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.json["member"], false);
    assert_eq!(mine.json["voters"], serde_json::json!(members));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_follower_and_a_removed_leader_answer_not_a_member() {
    let c = TestCluster::spawn(3).await;
    let admin = c.token(TokenRole::Admin);
    let leader = c.wait_leader(Duration::from_secs(5)).await;
    let follower = c.running().into_iter().find(|i| *i != leader).unwrap();

    // A removed follower never receives the entry that removes it: it learns from its peers.
    let r = call(
        &c.api_addr(leader),
        Method::DELETE,
        &format!("/cluster/members/{follower}"),
        None,
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let rest: Vec<u64> = (1..=3).filter(|i| *i != follower).collect();
    assert_removed(&c.api_addr(follower), follower, &rest).await;
    // The others serve on.
    assert_eq!(
        set_stock(&c.api_addr(leader), &admin, 3, 12).await.status,
        200
    );

    // The leader removing itself steps down; the one voter left leads.
    let r = call(
        &c.api_addr(leader),
        Method::DELETE,
        &format!("/cluster/members/{leader}"),
        None,
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let last: Vec<u64> = rest.iter().copied().filter(|i| *i != leader).collect();
    assert_removed(&c.api_addr(leader), leader, &last).await;
    let survivor = c.api_addr(last[0]);
    wait_for("the last voter to lead", Duration::from_secs(10), || {
        let a = survivor.clone();
        async move { get(&a, "/cluster/status").await.json["role"] == "leader" }
    })
    .await;
    assert_eq!(set_stock(&survivor, &admin, 3, 13).await.status, 200);
    c.shutdown().await;
}
