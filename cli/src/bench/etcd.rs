//! A three-member etcd cluster on free loopback ports in a temporary directory, killed when
//! dropped, and its JSON-gateway workloads (`/v3/kv/put`, linearizable `/v3/kv/range`).

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use confeitaria_client::transport::Transport;
use futures::FutureExt;
use http::Method;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::load::Op;
use crate::error::CliError;

/// A running etcd cluster.
#[derive(Debug)]
pub struct EtcdCluster {
    children: Vec<Child>,
    clients: Vec<String>,
    dir: std::path::PathBuf,
}

fn free_port() -> Result<u16, CliError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(CliError::io("finding a port"))?;
    Ok(l.local_addr()
        .map_err(CliError::io("finding a port"))?
        .port())
}

/// Base64 (standard, padded), as the gateway wants keys and values.
pub fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn post(t: &Transport, url: &str, body: String) -> Option<serde_json::Value> {
    let r = t
        .send(
            Method::POST,
            url,
            &[],
            Some(body.into_bytes()),
            Duration::from_secs(5),
        )
        .await
        .ok()?;
    if !r.status.is_success() {
        return None;
    }
    serde_json::from_slice(&r.body).ok()
}

impl EtcdCluster {
    /// Starts three members and waits until the cluster has a leader.
    pub async fn start(bin: &Path) -> Result<EtcdCluster, CliError> {
        let dir =
            std::env::temp_dir().join(format!("confeitaria-bench-etcd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(CliError::io("creating the etcd directory"))?;
        let mut peers = Vec::new();
        let mut clients = Vec::new();
        for i in 1..=3 {
            peers.push((
                format!("m{i}"),
                format!("http://127.0.0.1:{}", free_port()?),
            ));
            clients.push(format!("http://127.0.0.1:{}", free_port()?));
        }
        let initial = peers
            .iter()
            .map(|(n, u)| format!("{n}={u}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut children = Vec::new();
        for ((name, peer), client) in peers.iter().zip(&clients) {
            let log = std::fs::File::create(dir.join(format!("{name}.log")))
                .map_err(CliError::io("creating an etcd log"))?;
            let child = Command::new(bin)
                .args(["--name", name])
                .arg("--data-dir")
                .arg(dir.join(name))
                .args([
                    "--listen-client-urls",
                    client,
                    "--advertise-client-urls",
                    client,
                ])
                .args([
                    "--listen-peer-urls",
                    peer,
                    "--initial-advertise-peer-urls",
                    peer,
                ])
                .args([
                    "--initial-cluster",
                    &initial,
                    "--initial-cluster-state",
                    "new",
                ])
                .args(["--initial-cluster-token", "confeitaria-bench"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| {
                    CliError::Other(format!(
                        "cannot start {} ({e}); install it with `apt-get install etcd-server`",
                        bin.display()
                    ))
                })?;
            children.push(child);
        }
        let cluster = EtcdCluster {
            children,
            clients,
            dir,
        };
        let end = Instant::now() + Duration::from_secs(30);
        while cluster.leader_endpoint().await.is_err() {
            if Instant::now() >= end {
                return Err(CliError::Timeout(
                    "etcd cluster did not elect a leader".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(cluster)
    }

    /// The client URL of the member that leads.
    pub async fn leader_endpoint(&self) -> Result<String, CliError> {
        let t = Transport::http();
        for c in &self.clients {
            if let Some(st) = post(&t, &format!("{c}/v3/maintenance/status"), "{}".into()).await {
                let me = st["header"]["member_id"].as_str();
                let leader = st["leader"].as_str();
                if me.is_some() && me == leader {
                    return Ok(c.clone());
                }
            }
        }
        Err(CliError::NoLeader("etcd has no leader".into()))
    }

    /// Kills every member and removes its data.
    pub async fn stop(mut self) {
        for c in &mut self.children {
            let _ = c.kill().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `POST /v3/kv/put` on `endpoint`.
pub fn put(endpoint: &str) -> Op {
    let t = Transport::http();
    let url = format!("{endpoint}/v3/kv/put");
    Arc::new(move |c, seq| {
        let t = t.clone();
        let url = url.clone();
        async move {
            let body = format!(
                r#"{{"key":"{}","value":"{}"}}"#,
                b64(format!("estoque/{}", 1 + c % 20).as_bytes()),
                b64((1000 + seq % 1000).to_string().as_bytes())
            );
            post(&t, &url, body).await.is_some()
        }
        .boxed()
    })
}

/// Linearizable `POST /v3/kv/range` on `endpoint`.
pub fn range(endpoint: &str) -> Op {
    let t = Transport::http();
    let url = format!("{endpoint}/v3/kv/range");
    Arc::new(move |c, seq| {
        let t = t.clone();
        let url = url.clone();
        async move {
            let body = format!(
                r#"{{"key":"{}"}}"#,
                b64(format!("estoque/{}", 1 + (c as u64 + seq) % 20).as_bytes())
            );
            post(&t, &url, body).await.is_some()
        }
        .boxed()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_with_padding() {
        assert_eq!(b64(b"estoque/1"), "ZXN0b3F1ZS8x");
        assert_eq!(b64(b"ab"), "YWI=");
        assert_eq!(b64(b"a"), "YQ==");
        assert_eq!(b64(b""), "");
    }
}
