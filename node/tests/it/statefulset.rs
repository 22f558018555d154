//! The Kubernetes StatefulSet's start path without Kubernetes: real `catalog-node` processes
//! on the committed `deploy/k8s/base/cluster.toml`, its pod names `catalog-N.catalog-peer`
//! mapped to the loopback addresses 127.0.0.N and every pod on the same two ports, as in the
//! StatefulSet. Pods 1–3 bootstrap the voters; pod 4, given nothing but its ordinal
//! (`CONFEITARIA_NODE_ID=4`, what the host name `catalog-4` gives), finds no `[[nodes]]`
//! entry, takes the `[learners]` addresses and joins as a learner by itself.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use confeitaria_service::testing::free_port;
use tokio::time::Instant;

use crate::helpers::get;

/// The committed cluster file of deploy/k8s.
const K8S_CLUSTER_FILE: &str = include_str!("../../../deploy/k8s/base/cluster.toml");

/// Pods as processes, killed when the test ends, however it ends.
struct Pods {
    children: Vec<Child>,
    config: PathBuf,
}

impl Pods {
    /// Starts the pod of ordinal `id` the way the StatefulSet does: the id and nothing else.
    fn start(&mut self, id: u64) {
        let log =
            std::fs::File::create(self.config.with_file_name(format!("catalog-{id}.log"))).unwrap();
        let data = self.config.with_file_name(format!("data-catalog-{id}"));
        let child = Command::new(env!("CARGO_BIN_EXE_catalog-node"))
            .env("CONFEITARIA_CONFIG", &self.config)
            .env("CONFEITARIA_NODE_ID", id.to_string())
            .env("CONFEITARIA_DATA_DIR", &data)
            .env("RUST_LOG", "info,openraft=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children.push(child);
    }

    fn log(&self, id: u64) -> String {
        std::fs::read_to_string(self.config.with_file_name(format!("catalog-{id}.log")))
            .unwrap_or_default()
    }
}

impl Drop for Pods {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The committed file with `catalog-N.catalog-peer` as 127.0.0.N, the pods' ports 5001 and
/// 6001 replaced by free ones, and the data under `dir`. Returns its path and the ports.
fn localized(dir: &Path) -> (PathBuf, u16, u16) {
    let (api, rpc) = (free_port(), free_port());
    let settings: String = K8S_CLUSTER_FILE
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut text = settings
        .replace(":5001\"", &format!(":{api}\""))
        .replace(":6001\"", &format!(":{rpc}\""))
        .replace(
            "data_dir = \"/data\"",
            &format!("data_dir = {:?}", dir.display()),
        )
        .replace("catalog-{id}.catalog-peer", "127.0.0.{id}");
    for n in 1..=3 {
        text = text.replace(
            &format!("catalog-{n}.catalog-peer"),
            &format!("127.0.0.{n}"),
        );
    }
    assert!(
        text.contains("[learners]") && !text.contains("catalog-peer"),
        "deploy/k8s/base/cluster.toml no longer has the shape this test maps:\n{text}"
    );
    let path = dir.join("cluster.toml");
    std::fs::write(&path, text).unwrap();
    (path, api, rpc)
}

async fn until<F, Fut>(what: &str, timeout: Duration, pods: &Pods, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + timeout;
    while !f().await {
        assert!(
            Instant::now() < end,
            "timed out waiting for {what}; pod 4's log:\n{}",
            pods.log(4)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn status(addr: &str) -> Option<serde_json::Value> {
    let t = confeitaria_client::Transport::http();
    let r = t
        .send(
            http::Method::GET,
            &format!("http://{addr}/cluster/status"),
            &[],
            None,
            Duration::from_millis(500),
        )
        .await
        .ok()?;
    (r.status == 200).then(|| serde_json::from_slice(&r.body).ok())?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statefulset_pod_beyond_the_voters_joins_as_a_learner_by_its_ordinal() {
    let dir = tempfile::TempDir::new().unwrap();
    let (config, api, _) = localized(dir.path());
    let mut pods = Pods {
        children: Vec::new(),
        config,
    };
    for id in 1..=4 {
        pods.start(id);
    }
    let learner = format!("127.0.0.4:{api}");
    until(
        "pod 4 to be a learner of the voters 1-3",
        Duration::from_secs(40),
        &pods,
        || {
            let a = learner.clone();
            async move {
                status(&a).await.is_some_and(|st| {
                    st["role"] == "learner"
                        && st["membership"]["voters"] == serde_json::json!([1, 2, 3])
                        && st["membership"]["learners"] == serde_json::json!([4])
                })
            }
        },
    )
    .await;
    // Ready as the StatefulSet's readiness probe asks, and serving reads of the seeded catalog.
    until("pod 4 to be ready", Duration::from_secs(20), &pods, || {
        let a = learner.clone();
        async move { get(&a, "/ready").await.status == 200 }
    })
    .await;
    let read = get(&learner, "/api/produtos/1").await;
    assert_eq!(read.status, 200, "{}", read.json);
    assert_eq!(read.header("x-served-by"), Some("4"));
    // Every voter's membership names it at the address the [learners] scheme gives.
    let members = get(&format!("127.0.0.1:{api}"), "/cluster/members").await;
    assert_eq!(
        members.json["nodes"]["4"]["api_addr"], learner,
        "{}",
        members.json
    );
}
