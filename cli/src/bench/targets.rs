//! The catalog's workloads through [`CatalogClient`], and the bare axum baseline run as a
//! child process (`serve-baseline`), so it competes for the same cores as a node would.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use confeitaria_client::transport::Transport;
use confeitaria_client::{CatalogClient, Consistency};
use futures::FutureExt;
use http::Method;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::load::Op;
use crate::error::CliError;

/// Products the workloads spread over (the starting catalog has 20).
const PRODUCTS: u64 = 20;

/// `PUT /api/produtos/{id}/estoque {"estoque": n}`: acknowledged writes, leader first.
pub fn catalog_write(client: &CatalogClient) -> Op {
    let client = client.clone();
    Arc::new(move |c, seq| {
        let client = client.clone();
        async move {
            let id = 1 + (c as u64 % PRODUCTS);
            client.set_estoque(id, 1000 + seq % 1000).await.is_ok()
        }
        .boxed()
    })
}

/// `GET /api/produtos/{id}?consistency=...`.
pub fn catalog_read(client: &CatalogClient, level: Consistency) -> Op {
    let client = client.clone();
    Arc::new(move |c, seq| {
        let client = client.clone();
        async move {
            let id = 1 + ((c as u64 + seq) % PRODUCTS);
            client.doce(id, level).await.is_ok()
        }
        .boxed()
    })
}

/// `GET {base}/api/produtos/{id}?consistency=local`, the bases taken in turn: the same plain
/// HTTP request straight to the nodes or through the gateway.
pub fn http_read(bases: Vec<String>) -> Op {
    http_read_at(bases, "?consistency=local")
}

/// [`http_read`] with `query` after the path: `""` reads at the default, linearizable level
/// (the node confirms its leadership with a quorum, or a follower asks the leader for its
/// read index, before answering).
pub fn http_read_at(bases: Vec<String>, query: &'static str) -> Op {
    let transport = Transport::http();
    let bases = Arc::new(bases);
    Arc::new(move |c, seq| {
        let transport = transport.clone();
        let bases = bases.clone();
        async move {
            if bases.is_empty() {
                return false;
            }
            let base = &bases[(c + seq as usize) % bases.len()];
            let id = 1 + ((c as u64 + seq) % PRODUCTS);
            let url = format!("{base}/api/produtos/{id}{query}");
            transport
                .send(Method::GET, &url, &[], None, Duration::from_secs(5))
                .await
                .is_ok_and(|r| r.status.is_success())
        }
        .boxed()
    })
}

/// A `serve-baseline` child process.
#[derive(Debug)]
pub struct Baseline {
    child: Child,
    addr: String,
}

impl Baseline {
    /// Starts it on a free port and learns the port from its first line.
    pub async fn start() -> Result<Baseline, CliError> {
        let exe = std::env::current_exe().map_err(CliError::io("finding this executable"))?;
        let mut child = Command::new(exe)
            .args(["serve-baseline", "--stop-on-stdin-eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(CliError::io("starting the baseline"))?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| CliError::Other("baseline has no stdout".into()))?;
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(10),
            BufReader::new(out).read_line(&mut line),
        )
        .await
        .map_err(|_| CliError::Timeout("the baseline did not start".into()))?
        .map_err(CliError::io("reading the baseline's address"))?;
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .ok_or_else(|| CliError::Other(format!("unexpected baseline output '{line}'")))?
            .to_owned();
        Ok(Baseline { child, addr })
    }

    /// `GET /api/produtos/1` on it.
    pub fn op(&self) -> Op {
        let transport = Transport::http();
        let url = format!("http://{}/api/produtos/1", self.addr);
        Arc::new(move |_, _| {
            let transport = transport.clone();
            let url = url.clone();
            async move {
                transport
                    .send(Method::GET, &url, &[], None, Duration::from_secs(5))
                    .await
                    .is_ok_and(|r| r.status.is_success())
            }
            .boxed()
        })
    }

    /// Stops it (kill; it holds no data).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
