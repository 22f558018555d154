//! What every command needs from the global options: the cluster file, where the nodes are
//! (given, started by `up`, or listed in the file), and an admin token.

use std::path::PathBuf;
use std::time::Duration;

use confeitaria_client::config::ClusterFile;
use confeitaria_client::{CallPolicy, CatalogClient};
use confeitaria_types::auth::{self, TokenRole};

use crate::args::Global;
use crate::control::{self, UpState};
use crate::error::CliError;

/// The global options, resolved lazily.
#[derive(Debug, Clone)]
pub struct Context {
    /// As parsed.
    pub global: Global,
}

impl Context {
    /// A context for these options.
    pub fn new(global: Global) -> Self {
        Self { global }
    }

    /// The cluster file.
    pub fn cluster_file(&self) -> Result<ClusterFile, CliError> {
        Ok(ClusterFile::load(&self.global.config)?)
    }

    /// The data directory, absolute (relative paths are taken from the working directory,
    /// as every binary does).
    pub fn data_dir(&self, file: &ClusterFile) -> Result<PathBuf, CliError> {
        absolute(PathBuf::from(&file.cluster.data_dir))
    }

    /// The `up` running for this cluster file, if any.
    pub async fn running_up(&self) -> Result<Option<UpState>, CliError> {
        let file = self.cluster_file()?;
        Ok(control::running(&self.data_dir(&file)?).await)
    }

    /// The `up` running for this cluster file; an error if there is none.
    pub async fn require_up(&self) -> Result<UpState, CliError> {
        self.running_up()
            .await?
            .ok_or_else(|| CliError::NotRunning(self.global.config.display().to_string()))
    }

    /// Catalog nodes as `(id if known, api address)`: `--nodes`, else those a running `up`
    /// started, else those the cluster file lists.
    pub async fn nodes(&self) -> Result<Vec<(Option<u64>, String)>, CliError> {
        if !self.global.nodes.is_empty() {
            return Ok(self
                .global
                .nodes
                .iter()
                .map(|a| (None, a.clone()))
                .collect());
        }
        if let Some(up) = self.running_up().await? {
            return Ok(up
                .nodes()
                .into_iter()
                .map(|(id, a)| (Some(id), a))
                .collect());
        }
        let mut file = self.cluster_file()?;
        // Ports 0 were resolved by the last `up`; its effective file has them.
        let effective = self.data_dir(&file)?.join("cluster.effective.toml");
        if file.nodes.iter().any(|n| n.api.ends_with(":0")) {
            if let Ok(e) = ClusterFile::load(&effective) {
                file = e;
            }
        }
        Ok(file
            .nodes
            .iter()
            .map(|n| (Some(n.id), n.api.clone()))
            .collect())
    }

    /// An admin token: `--token`, else one minted from the cluster file's secret.
    pub fn admin_token(&self) -> Result<String, CliError> {
        if let Some(t) = &self.global.token {
            return Ok(t.clone());
        }
        let file = self.cluster_file()?;
        mint(&file, TokenRole::Admin, 3600)
    }

    /// A client for the nodes, with an admin token.
    pub async fn client(&self) -> Result<CatalogClient, CliError> {
        let addrs = self.nodes().await?.into_iter().map(|(_, a)| a).collect();
        Ok(CatalogClient::new(addrs)
            .with_token(self.admin_token()?)
            .with_policy(CallPolicy {
                deadline: Duration::from_secs(10),
                attempt: Duration::from_secs(4),
                backoff: Duration::from_millis(20),
            }))
    }
}

/// A token for `role` signed with the file's JWT secret.
pub fn mint(file: &ClusterFile, role: TokenRole, ttl_secs: u64) -> Result<String, CliError> {
    auth::sign(
        file.cluster.jwt_secret.expose(),
        role,
        "confeitaria-cli",
        auth::now_secs(),
        ttl_secs,
    )
    .map_err(|e| CliError::Other(format!("signing a token: {e}")))
}

/// `p` made absolute against the working directory.
pub fn absolute(p: PathBuf) -> Result<PathBuf, CliError> {
    if p.is_absolute() {
        return Ok(p);
    }
    let cwd = std::env::current_dir().map_err(CliError::io("reading the working directory"))?;
    Ok(cwd.join(p))
}
