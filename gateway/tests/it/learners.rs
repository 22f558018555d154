//! The gateway follows the catalog's membership: a learner that joins the running shop takes
//! catalog reads through the gateway (never writes); stopped in the middle of a stream of
//! reads, it fails none of them; removed from the membership, it leaves the pool.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confeitaria_types::auth::TokenRole;
use http::{Method, StatusCode};

use crate::harness::{eventually, token, try_call, Shop};

/// Reads answered, by `X-Upstream`, and the reads that failed.
#[derive(Default)]
struct Tally {
    by_upstream: BTreeMap<String, u64>,
    failed: Vec<String>,
}

type Shared = Arc<Mutex<Tally>>;

async fn reader(url: String, r: u64, stop: Arc<AtomicBool>, tally: Shared) {
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let path = match (r + i) % 3 {
            0 => format!("/api/produtos/{}", 1 + i % 20),
            1 => "/api/produtos?limit=5".to_owned(),
            _ => format!("/api/produtos/{}?consistency=local", 1 + i % 20),
        };
        let got = try_call(Method::GET, &format!("{url}{path}"), &[], "").await;
        let mut t = tally.lock().unwrap();
        match got {
            Ok(a) if a.status == StatusCode::OK => {
                let up = a.header("x-upstream").unwrap_or("?").to_owned();
                *t.by_upstream.entry(up).or_default() += 1;
            }
            Ok(a) => t
                .failed
                .push(format!("GET {path}: {} {}", a.status, a.json())),
            Err(e) => t.failed.push(format!("GET {path}: {e}")),
        }
    }
}

fn total(t: &Shared) -> u64 {
    t.lock().unwrap().by_upstream.values().sum()
}

fn served_by(t: &Shared, upstream: &str) -> u64 {
    t.lock()
        .unwrap()
        .by_upstream
        .get(upstream)
        .copied()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_learner_that_joins_takes_reads_and_stopping_it_fails_none() {
    let mut shop = Shop::start().await;
    let learner = shop.cluster.spawn_learner(4).await;
    shop.cluster.wait_member(4, Duration::from_secs(10)).await;
    shop.cluster.wait_seeded(Duration::from_secs(10)).await;
    let label = format!("catalog@{}", learner.api_addr);

    // The gateway was configured with nodes 1–3 only: the learner comes from the membership.
    let gw = shop.gateway.state.clone();
    let in_pool = |gw: &gateway::Gateway| {
        gw.catalog
            .instances()
            .iter()
            .any(|i| i.addr == learner.api_addr && i.is_learner())
    };
    assert!(
        eventually(Duration::from_secs(10), || async { in_pool(&gw) }).await,
        "the learner {} never joined the gateway's pool: {:?}",
        learner.api_addr,
        gw.catalog
            .instances()
            .iter()
            .map(|i| (i.addr.clone(), i.node_id(), i.is_learner()))
            .collect::<Vec<_>>()
    );
    let painel = gateway::painel::estado(&gw);
    assert!(
        painel.nos.iter().any(|n| n.id == Some(4) && n.aprendiz),
        "{:?}",
        painel.nos
    );

    let stop = Arc::new(AtomicBool::new(false));
    let tally: Shared = Arc::default();
    let mut tasks = Vec::new();
    for r in 0..6 {
        let url = shop.gateway.url.clone();
        tasks.push(tokio::spawn(reader(url, r, stop.clone(), tally.clone())));
    }
    let reached = eventually(Duration::from_secs(20), || async {
        served_by(&tally, &label) >= 20 && total(&tally) >= 200
    })
    .await;
    assert!(
        reached,
        "reads never reached the learner: {:?}",
        tally.lock().unwrap().by_upstream
    );

    // Writes go to voters only, learners joined or not.
    let admin = format!("Bearer {}", token(TokenRole::Admin));
    for id in 1..=10 {
        let a = try_call(
            Method::PUT,
            &shop.gateway.at(&format!("/api/produtos/{id}/estoque")),
            &[("authorization", &admin)],
            r#"{"estoque": 500}"#,
        )
        .await
        .unwrap();
        assert_eq!(a.status, StatusCode::OK, "{}", a.json());
        assert_ne!(a.header("x-upstream"), Some(label.as_str()));
    }

    // Stop the learner mid-stream: no read fails, and reads go on elsewhere.
    shop.cluster.stop(4).await;
    let after_stop = total(&tally);
    let moved_on = eventually(Duration::from_secs(20), || async {
        total(&tally) >= after_stop + 300
    })
    .await;
    let learner_before = served_by(&tally, &label);
    let still = eventually(Duration::from_secs(20), || async {
        total(&tally) >= after_stop + 600
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    {
        let t = tally.lock().unwrap();
        assert!(
            t.failed.is_empty(),
            "{} failed reads: {:#?}",
            t.failed.len(),
            t.failed
        );
        assert!(moved_on && still, "reads stalled: {:?}", t.by_upstream);
        assert_eq!(
            t.by_upstream.get(&label).copied().unwrap_or(0),
            learner_before,
            "a stopped learner answered"
        );
    }

    // Removed from the membership, it leaves the pool.
    let leader = shop.cluster.wait_leader(Duration::from_secs(10)).await;
    let removed = try_call(
        Method::DELETE,
        &format!("http://{}/cluster/members/4", shop.cluster.api_addr(leader)),
        &[("authorization", &admin)],
        "",
    )
    .await
    .unwrap();
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.json());
    let gone = |gw: &gateway::Gateway| {
        !gw.catalog
            .instances()
            .iter()
            .any(|i| i.addr == learner.api_addr)
    };
    assert!(
        eventually(Duration::from_secs(10), || async { gone(&gw) }).await,
        "the removed learner stayed in the pool"
    );
    assert_eq!(gw.catalog.instances().len(), 3);
}
