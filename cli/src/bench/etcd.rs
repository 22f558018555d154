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

/// etcd's Raft timing: its defaults, or the catalog's (`[raft]` in `cluster.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdTiming {
    /// etcd's own: heartbeat 100 ms, election timeout 1000 ms.
    Default,
    /// Tuned to the catalog's: heartbeat 30 ms, election timeout 160 ms.
    Tuned,
}

impl EtcdTiming {
    /// How it is named in tables and CSV files.
    pub fn label(self) -> &'static str {
        match self {
            EtcdTiming::Default => "etcd-3.4",
            EtcdTiming::Tuned => "etcd-3.4-tuned",
        }
    }
}

/// A running etcd cluster.
#[derive(Debug)]
pub struct EtcdCluster {
    bin: std::path::PathBuf,
    /// Each member's command-line arguments, kept to restart it on its data.
    args: Vec<Vec<std::ffi::OsString>>,
    children: Vec<Option<Child>>,
    clients: Vec<String>,
    dir: std::path::PathBuf,
}

/// What a member says of itself (`/v3/maintenance/status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberStatus {
    /// Its member id.
    pub member: String,
    /// The leader it knows (empty or "0" when none).
    pub leader: String,
    /// Its last Raft index.
    pub raft_index: u64,
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

async fn post_within(
    t: &Transport,
    url: &str,
    body: String,
    deadline: Duration,
) -> Option<serde_json::Value> {
    let r = t
        .send(Method::POST, url, &[], Some(body.into_bytes()), deadline)
        .await
        .ok()?;
    if !r.status.is_success() {
        return None;
    }
    serde_json::from_slice(&r.body).ok()
}

async fn post(t: &Transport, url: &str, body: String) -> Option<serde_json::Value> {
    post_within(t, url, body, Duration::from_secs(5)).await
}

impl EtcdCluster {
    /// Starts three members with `timing` and waits until the cluster has a leader.
    pub async fn start(bin: &Path, timing: EtcdTiming) -> Result<EtcdCluster, CliError> {
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
        let mut args = Vec::new();
        for ((name, peer), client) in peers.iter().zip(&clients) {
            let mut a: Vec<std::ffi::OsString> = vec!["--name".into(), name.into()];
            a.extend(["--data-dir".into(), dir.join(name).into_os_string()]);
            for (flag, value) in [
                ("--listen-client-urls", client.as_str()),
                ("--advertise-client-urls", client),
                ("--listen-peer-urls", peer),
                ("--initial-advertise-peer-urls", peer),
                ("--initial-cluster", &initial),
                ("--initial-cluster-state", "new"),
                ("--initial-cluster-token", "confeitaria-bench"),
            ] {
                a.extend([flag.into(), value.into()]);
            }
            if timing == EtcdTiming::Tuned {
                a.extend(["--heartbeat-interval".into(), "30".into()]);
                a.extend(["--election-timeout".into(), "160".into()]);
            }
            args.push(a);
        }
        let mut cluster = EtcdCluster {
            bin: bin.to_owned(),
            children: args.iter().map(|_| None).collect(),
            args,
            clients,
            dir,
        };
        for i in 0..cluster.args.len() {
            cluster.spawn(i)?;
        }
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

    /// Starts member `i` (0-based) on its data directory, logging to `m<i+1>.log`.
    fn spawn(&mut self, i: usize) -> Result<(), CliError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("m{}.log", i + 1)))
            .map_err(CliError::io("opening an etcd log"))?;
        let child = Command::new(&self.bin)
            .args(&self.args[i])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                CliError::Other(format!(
                    "cannot start {} ({e}); install it with `apt-get install etcd-server`",
                    self.bin.display()
                ))
            })?;
        self.children[i] = Some(child);
        Ok(())
    }

    /// SIGKILLs member `i` and waits for it to be gone.
    pub async fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill().await;
        }
    }

    /// Starts member `i` again on its data (after [`EtcdCluster::kill`]).
    pub fn restart(&mut self, i: usize) -> Result<(), CliError> {
        self.spawn(i)
    }

    /// The members' client URLs, in member order.
    pub fn clients(&self) -> &[String] {
        &self.clients
    }

    /// What member `i` says of itself, if it answers within `deadline`.
    pub async fn status(&self, i: usize, deadline: Duration) -> Option<MemberStatus> {
        let url = format!("{}/v3/maintenance/status", self.clients[i]);
        let st = post_within(&Transport::http(), &url, "{}".into(), deadline).await?;
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        Some(MemberStatus {
            member: text(&st["header"]["member_id"]),
            leader: text(&st["leader"]),
            raft_index: text(&st["raftIndex"]).parse().unwrap_or(0),
        })
    }

    /// The index of the member that leads, as members `among` see it: one that says it leads
    /// itself.
    pub async fn leader_among(&self, among: &[usize], deadline: Duration) -> Option<usize> {
        for &i in among {
            if let Some(s) = self.status(i, deadline).await {
                if !s.member.is_empty() && s.member == s.leader {
                    return Some(i);
                }
            }
        }
        None
    }

    /// The client URL of the member that leads.
    pub async fn leader_endpoint(&self) -> Result<String, CliError> {
        let all: Vec<usize> = (0..self.clients.len()).collect();
        match self.leader_among(&all, Duration::from_secs(5)).await {
            Some(i) => Ok(self.clients[i].clone()),
            None => Err(CliError::NoLeader("etcd has no leader".into())),
        }
    }

    /// Kills every member and removes its data.
    pub async fn stop(mut self) {
        for i in 0..self.children.len() {
            self.kill(i).await;
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
