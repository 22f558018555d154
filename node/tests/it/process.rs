//! Real `catalog-node` processes: the leader is killed with SIGKILL while a writer keeps
//! writing; survivors take over, the killed node restarts on its data and catches up, and
//! every acknowledged write is on all three nodes.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use confeitaria_client::catalog::CallPolicy;
use confeitaria_client::CatalogClient;
use confeitaria_service::testing::free_port;
use confeitaria_types::auth::{self, TokenRole};
use confeitaria_types::{ItemReserva, NovaReserva};
use tokio::time::Instant;

use crate::helpers::{call, get};

const JWT: &str = "process-test-jwt";

/// Child processes killed when the test ends, however it ends.
struct Nodes {
    children: Vec<Option<Child>>,
    config: std::path::PathBuf,
}

impl Nodes {
    fn spawn(&mut self, id: usize) {
        let log =
            std::fs::File::create(self.config.with_file_name(format!("node-{id}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_catalog-node"))
            .arg("--config")
            .arg(&self.config)
            .arg("--id")
            .arg(id.to_string())
            .env("RUST_LOG", "info,openraft=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children[id - 1] = Some(child);
    }

    fn kill9(&mut self, id: usize) {
        if let Some(mut c) = self.children[id - 1].take() {
            c.kill().unwrap(); // SIGKILL on Unix
            c.wait().unwrap();
        }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn write_config(dir: &Path) -> (std::path::PathBuf, Vec<String>) {
    write_config_with(dir, 0)
}

/// A cluster file with three voters and `learners` learners (ids 4, …), every port free.
fn write_config_with(dir: &Path, learners: u64) -> (std::path::PathBuf, Vec<String>) {
    let mut text = format!(
        "[cluster]\nsecret = \"process-test-secret\"\njwt_secret = \"{JWT}\"\ndata_dir = \"{}\"\n\n[raft]\nheartbeat_ms = 50\nelection_min_ms = 150\nelection_max_ms = 300\nsnapshot_every = 100\nleader_wait_ms = 3000\n",
        dir.join("data").display()
    );
    let mut apis = Vec::new();
    for id in 1..=3 + learners {
        let api = format!("127.0.0.1:{}", free_port());
        let role = if id > 3 { "role = \"learner\"\n" } else { "" };
        text.push_str(&format!(
            "\n[[nodes]]\nid = {id}\napi = \"{api}\"\nrpc = \"127.0.0.1:{}\"\n{role}",
            free_port()
        ));
        apis.push(api);
    }
    let path = dir.join("cluster.toml");
    std::fs::write(&path, text).unwrap();
    (path, apis)
}

async fn leader_of(apis: &[String]) -> Option<u64> {
    for a in apis {
        let t = confeitaria_client::Transport::http();
        if let Ok(r) = t
            .send(
                http::Method::GET,
                &format!("http://{a}/cluster/status"),
                &[],
                None,
                Duration::from_millis(300),
            )
            .await
        {
            let st: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            if st["role"] == "leader" {
                return st["id"].as_u64();
            }
        }
    }
    None
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut f: F)
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
async fn killing_the_leader_loses_no_acknowledged_write() {
    let dir = tempfile::TempDir::new().unwrap();
    let (config, apis) = write_config(dir.path());
    let mut nodes = Nodes {
        children: vec![None, None, None],
        config,
    };
    for id in 1..=3 {
        nodes.spawn(id);
    }
    wait_until("a seeded cluster", Duration::from_secs(20), || async {
        let mut ok = true;
        for a in &apis {
            let t = confeitaria_client::Transport::http();
            ok &= matches!(t.send(http::Method::GET, &format!("http://{a}/api/produtos/1"), &[], None, Duration::from_millis(500)).await, Ok(r) if r.status == 200);
        }
        ok
    })
    .await;

    let service = auth::sign(
        JWT.as_bytes(),
        TokenRole::Service,
        "test",
        auth::now_secs(),
        3600,
    )
    .unwrap();
    let admin = auth::sign(
        JWT.as_bytes(),
        TokenRole::Admin,
        "test",
        auth::now_secs(),
        3600,
    )
    .unwrap();
    let r = call(
        &apis[0],
        http::Method::PUT,
        "/api/produtos/1/estoque",
        Some("{\"estoque\":1000000}"),
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);

    // The writer: sequential reservations with unique ids through the client library.
    let client = CatalogClient::new(apis.clone())
        .with_token(service.clone())
        .with_policy(CallPolicy {
            deadline: Duration::from_secs(5),
            attempt: Duration::from_millis(500),
            backoff: Duration::from_millis(10),
        });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let stop = tokio_util::sync::CancellationToken::new();
    let writer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.is_cancelled() {
                i += 1;
                let id = format!("w-{i}");
                let r = NovaReserva {
                    emitida_em: None,
                    id: id.clone(),
                    itens: vec![ItemReserva {
                        doce_id: 1,
                        quantidade: 1,
                    }],
                };
                if client.reservar(&r).await.is_ok() {
                    let _ = tx.send((id, Instant::now()));
                }
            }
        })
    };
    let mut acked: Vec<(String, Instant)> = Vec::new();
    while acked.len() < 30 {
        acked.push(rx.recv().await.unwrap());
    }
    let leader = leader_of(&apis).await.expect("a leader before the kill") as usize;
    let killed_at = Instant::now();
    nodes.kill9(leader);
    let first_after = loop {
        let (id, at) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("no write acknowledged after the kill")
            .unwrap();
        acked.push((id, at));
        if at > killed_at {
            break at - killed_at;
        }
    };
    eprintln!("leader {leader} killed; first acknowledged write {first_after:?} later");
    assert!(
        first_after < Duration::from_secs(3),
        "first write after the kill took {first_after:?}"
    );
    let survivors: Vec<String> = (1..=3)
        .filter(|id| *id != leader)
        .map(|id| apis[id - 1].clone())
        .collect();
    wait_until("a new leader", Duration::from_secs(5), || async {
        leader_of(&survivors).await.is_some()
    })
    .await;

    // Keep writing a little, then bring the killed node back on its data directory.
    let target = acked.len() + 30;
    while acked.len() < target {
        acked.push(rx.recv().await.unwrap());
    }
    nodes.spawn(leader);
    let target = acked.len() + 30;
    while acked.len() < target {
        acked.push(rx.recv().await.unwrap());
    }
    stop.cancel();
    writer.await.unwrap();
    while let Ok(a) = rx.try_recv() {
        acked.push(a);
    }

    // Every acknowledged reservation is on every node, read locally.
    let last = acked.last().unwrap().0.clone();
    for a in &apis {
        wait_until(&format!("{a} to catch up"), Duration::from_secs(15), || {
            let t = service.clone();
            let (a, last) = (a.clone(), last.clone());
            async move {
                call(
                    &a,
                    http::Method::GET,
                    &format!("/api/reservas/{last}?consistency=local"),
                    None,
                    Some(&t),
                )
                .await
                .status
                    == 200
            }
        })
        .await;
        for (id, _) in &acked {
            let r = call(
                a,
                http::Method::GET,
                &format!("/api/reservas/{id}?consistency=local"),
                None,
                Some(&service),
            )
            .await;
            assert_eq!(
                r.status, 200,
                "acknowledged reservation {id} missing on {a}"
            );
            assert_eq!(r.json["estado"], "reservada");
        }
        let e = get(a, "/api/produtos/1/estoque?consistency=local")
            .await
            .json;
        assert!(
            e["reservado"].as_u64().unwrap() >= acked.len() as u64,
            "{e}"
        );
        assert_eq!(e["recebido"], 1_000_000, "units created or lost: {e}");
    }
    eprintln!(
        "{} acknowledged writes present on all three nodes",
        acked.len()
    );
}

/// `GET` that answers `None` while the process does not listen yet.
async fn try_get(addr: &str, path: &str) -> Option<(u16, serde_json::Value)> {
    try_get_as(addr, path, None).await
}

/// [`try_get`] with a bearer token.
async fn try_get_as(
    addr: &str,
    path: &str,
    token: Option<&str>,
) -> Option<(u16, serde_json::Value)> {
    let t = confeitaria_client::Transport::http();
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    let r = t
        .send(
            http::Method::GET,
            &format!("http://{addr}{path}"),
            &headers,
            None,
            Duration::from_secs(2),
        )
        .await
        .ok()?;
    Some((
        r.status.as_u16(),
        serde_json::from_slice(&r.body).unwrap_or_default(),
    ))
}

/// Write latencies of `writers` concurrent writers until `count` reservations are
/// acknowledged; panics on any failed write.
async fn timed_writes(
    client: &CatalogClient,
    prefix: &str,
    writers: usize,
    count: usize,
) -> Vec<Duration> {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..writers {
        let (client, next, prefix) = (client.clone(), next.clone(), prefix.to_owned());
        tasks.spawn(async move {
            let mut took = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return took;
                }
                let r = NovaReserva {
                    emitida_em: None,
                    id: format!("{prefix}-{i}"),
                    itens: vec![ItemReserva {
                        doce_id: 1,
                        quantidade: 1,
                    }],
                };
                let started = Instant::now();
                if let Err(e) = client.reservar(&r).await {
                    panic!("write {} failed: {e}", r.id);
                }
                took.push(started.elapsed());
            }
        });
    }
    let mut all = Vec::new();
    while let Some(t) = tasks.join_next().await {
        all.extend(t.unwrap());
    }
    all.sort();
    all
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_killed_under_write_load_fails_no_write() {
    let dir = tempfile::TempDir::new().unwrap();
    let (config, apis) = write_config_with(dir.path(), 1);
    let mut nodes = Nodes {
        children: vec![None, None, None, None],
        config,
    };
    for id in 1..=4 {
        nodes.spawn(id);
    }
    let learner = apis[3].clone();
    wait_until(
        "the learner to join and serve",
        Duration::from_secs(30),
        || {
            let a = learner.clone();
            async move {
                let status = try_get(&a, "/cluster/status").await;
                status.is_some_and(|(_, st)| st["role"] == "learner")
                    && try_get(&a, "/api/produtos/1?consistency=linearizable")
                        .await
                        .is_some_and(|(code, _)| code == 200)
            }
        },
    )
    .await;
    let admin = auth::sign(
        JWT.as_bytes(),
        TokenRole::Admin,
        "t",
        auth::now_secs(),
        3600,
    )
    .unwrap();
    let service = auth::sign(
        JWT.as_bytes(),
        TokenRole::Service,
        "t",
        auth::now_secs(),
        3600,
    )
    .unwrap();
    let r = call(
        &apis[0],
        http::Method::PUT,
        "/api/produtos/1/estoque",
        Some("{\"estoque\":1000000}"),
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);

    // Writers talk to the voters only; the learner still gets every entry.
    let client = CatalogClient::new(apis[..3].to_vec())
        .with_token(service.clone())
        .with_policy(CallPolicy {
            deadline: Duration::from_secs(5),
            attempt: Duration::from_secs(2),
            backoff: Duration::from_millis(10),
        });
    let _warm = timed_writes(&client, "warm", 16, 200).await;
    let before = timed_writes(&client, "before", 16, 1500).await;
    nodes.kill9(4);
    let after = timed_writes(&client, "after", 16, 1500).await;
    eprintln!(
        "write latency, 16 writers, 1500 writes each phase: learner up p50 {:?} p99 {:?} max {:?}; \
         learner SIGKILLed p50 {:?} p99 {:?} max {:?}",
        pct(&before, 0.5),
        pct(&before, 0.99),
        before.last().unwrap(),
        pct(&after, 0.5),
        pct(&after, 0.99),
        after.last().unwrap(),
    );

    // Back on its data, the learner catches up on what it missed.
    nodes.spawn(4);
    wait_until("the learner to catch up", Duration::from_secs(30), || {
        let (a, t) = (learner.clone(), service.clone());
        async move {
            try_get_as(&a, "/api/reservas/after-1499?consistency=local", Some(&t))
                .await
                .is_some_and(|(code, _)| code == 200)
        }
    })
    .await;
    let st = get(&learner, "/cluster/status").await;
    assert_eq!(st.json["role"], "learner", "{}", st.json);
    assert_eq!(
        st.json["membership"]["voters"],
        serde_json::json!([1, 2, 3])
    );
}
