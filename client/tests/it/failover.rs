//! Calls in flight while the leader stops complete after the failover, within their deadline.

use std::time::Duration;

use catalog_node::testing::TestCluster;
use confeitaria_client::Consistency;
use tokio::time::Instant;

use crate::{admin_client, deadline};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_when_the_leader_stops_complete_after_the_failover() {
    let mut cluster = TestCluster::spawn(3).await;
    let leader = cluster.wait_leader(Duration::from_secs(5)).await;
    let call_deadline = Duration::from_secs(6);
    let client = admin_client(&cluster).with_policy(deadline(6));
    client.refresh().await.unwrap();

    let stop_at = Instant::now() + Duration::from_millis(300);
    let run_until = stop_at + Duration::from_millis(1500);
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            let mut n = 0u64;
            while Instant::now() < run_until {
                let started = Instant::now();
                let r = if w % 2 == 0 {
                    client.set_estoque(1 + w, n).await.map(|_| ())
                } else {
                    client
                        .doce(1 + w, Consistency::Linearizable)
                        .await
                        .map(|_| ())
                };
                done.push((started, started.elapsed(), r));
                n += 1;
            }
            done
        }));
    }
    tokio::time::sleep_until(stop_at).await;
    let stop_began = Instant::now();
    cluster.stop(leader).await;

    let mut spanning = 0;
    for t in tasks {
        for (started, took, r) in t.await.unwrap() {
            assert!(r.is_ok(), "a call failed across the failover: {r:?}");
            assert!(
                took <= call_deadline,
                "a call outlived its deadline: {took:?}"
            );
            if started <= stop_began && started + took > stop_began {
                spanning += 1;
            }
        }
    }
    assert!(
        spanning > 0,
        "some calls were in flight while the leader stopped"
    );
    let new_leader = cluster.wait_leader(Duration::from_secs(5)).await;
    assert_ne!(new_leader, leader);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_acknowledged_before_the_failover_is_read_after_it() {
    let mut cluster = TestCluster::spawn(3).await;
    let leader = cluster.wait_leader(Duration::from_secs(5)).await;
    let client = admin_client(&cluster).with_policy(deadline(6));
    client.set_estoque(3, 4242).await.unwrap();
    cluster.stop(leader).await;
    let d = client.doce(3, Consistency::Linearizable).await.unwrap();
    assert_eq!(d.estoque, 4242);
    cluster.shutdown().await;
}
