//! `cluster.toml`: the local shop's nodes, services, ports and development secrets, parsed
//! once at start-up by every binary.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use confeitaria_types::{MemberRole, NodeAddr};
use serde::{Deserialize, Serialize};

/// A secret that never prints.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret's bytes, for signing and comparing.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// Secrets and the data directory.
    pub cluster: ClusterSection,
    /// Raft timing.
    #[serde(default)]
    pub raft: RaftTiming,
    /// The catalog nodes.
    pub nodes: Vec<NodeEntry>,
    /// The cart service, when present.
    #[serde(default)]
    pub cart: Option<ServiceEntry>,
    /// The orders service, when present.
    #[serde(default)]
    pub orders: Option<ServiceEntry>,
    /// The gateway, when present.
    #[serde(default)]
    pub gateway: Option<ServiceEntry>,
    /// Where a node whose id the file does not list listens: it joins as a learner (a
    /// StatefulSet scaled beyond its voters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learners: Option<LearnerTemplate>,
}

/// `[learners]`: the addresses of a node not listed in `[[nodes]]`, `{id}` standing for its
/// id (`catalog-{id}.catalog-peer:5001`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnerTemplate {
    /// REST API `host:port` with `{id}`.
    pub api: String,
    /// Raft RPC `host:port` with `{id}`.
    pub rpc: String,
}

/// `[cluster]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// Shared secret every Raft RPC must carry.
    pub secret: Secret,
    /// HS256 key for admin and service JWTs.
    pub jwt_secret: Secret,
    /// Root of every service's data (`<data_dir>/node-<id>`, ...).
    #[serde(default = "default_data_dir")]
    pub data_dir: String,
}

fn default_data_dir() -> String {
    "data".into()
}

/// `[raft]`: timing in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaftTiming {
    /// Leader heartbeat period.
    pub heartbeat_ms: u64,
    /// Lower bound of the randomized election timeout.
    pub election_min_ms: u64,
    /// Upper bound of the randomized election timeout.
    pub election_max_ms: u64,
    /// Take a snapshot after this many entries since the last one.
    pub snapshot_every: u64,
    /// How long a request waits for a leader before answering 503.
    pub leader_wait_ms: u64,
    /// Log entries kept behind a snapshot; a follower further behind gets the snapshot.
    #[serde(default = "default_keep_logs")]
    pub keep_logs: u64,
    /// How long a settled reservation, release tombstone or remembered refusal is kept
    /// before it is forgotten (0: kept forever). It must exceed by far the longest time a
    /// duplicate of a request can still arrive: docs/design.md, "Retention", bounds that by
    /// the gateway's request deadline (18 s); the default is ten minutes.
    #[serde(default = "default_retention_ms")]
    pub retention_ms: u64,
}

fn default_keep_logs() -> u64 {
    1000
}

/// Ten minutes: 33 times the longest request deadline (the gateway's 18 s).
pub const DEFAULT_RETENTION_MS: u64 = 600_000;

fn default_retention_ms() -> u64 {
    DEFAULT_RETENTION_MS
}

impl Default for RaftTiming {
    fn default() -> Self {
        Self {
            heartbeat_ms: 50,
            election_min_ms: 150,
            election_max_ms: 300,
            snapshot_every: 5000,
            leader_wait_ms: 3000,
            keep_logs: default_keep_logs(),
            retention_ms: DEFAULT_RETENTION_MS,
        }
    }
}

/// One `[[nodes]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// Node id (unique, non-zero).
    pub id: u64,
    /// REST API `host:port`.
    pub api: String,
    /// Raft RPC `host:port`.
    pub rpc: String,
    /// `voter` (the default: one of the initial membership) or `learner` (joins through the
    /// voters at start-up, serves reads, never votes).
    #[serde(default, skip_serializing_if = "is_voter")]
    pub role: MemberRole,
}

fn is_voter(r: &MemberRole) -> bool {
    *r == MemberRole::Voter
}

/// `[cart]`, `[orders]`, `[gateway]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry {
    /// `host:port` to listen on.
    pub addr: String,
    /// Redis URL, for services that use it; empty means the embedded store.
    #[serde(default)]
    pub redis_url: String,
}

/// The cluster secret `cluster.toml` ships with, for local use only.
pub const DEV_CLUSTER_SECRET: &str = "dev-cluster-secret-change-me";

/// The JWT secret `cluster.toml` ships with, for local use only.
pub const DEV_JWT_SECRET: &str = "dev-jwt-secret-change-me";

/// Whether `listen` (`host:port`) accepts connections from this machine only.
pub fn is_loopback(listen: &str) -> bool {
    let host = listen.rsplit_once(':').map_or(listen, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Refuses to serve on a non-loopback address with a development secret: anyone who can
/// reach the port could then mint admin tokens or speak Raft. `local_demo` (the
/// `CONFEITARIA_LOCAL_DEMO` switch) says the exposure is deliberate.
pub fn refuse_dev_secrets(
    listen: &str,
    secrets: &[&Secret],
    local_demo: bool,
) -> Result<(), ConfigError> {
    let dev = secrets.iter().any(|s| {
        [DEV_CLUSTER_SECRET, DEV_JWT_SECRET]
            .map(str::as_bytes)
            .contains(&s.expose())
    });
    if dev && !local_demo && !is_loopback(listen) {
        return Err(ConfigError::Invalid(format!(
            "refusing to listen on {listen} with the development secrets of cluster.toml: set \
             CONFEITARIA_CLUSTER_SECRET and CONFEITARIA_JWT_SECRET, or CONFEITARIA_LOCAL_DEMO=1 \
             for a deliberate local demo"
        )));
    }
    Ok(())
}

/// A node id from a host name's ordinal, the way a StatefulSet or Compose names replicas:
/// `catalog-2` → 2. `None` when the name does not end in `-<number>` or the number is 0.
pub fn id_from_hostname(hostname: &str) -> Option<u64> {
    let (_, ordinal) = hostname.trim().rsplit_once('-')?;
    ordinal.parse().ok().filter(|&n| n != 0)
}

/// Errors reading the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("invalid cluster file: {0}")]
    Invalid(String),
}

impl ClusterFile {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses and checks the file's text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let f: ClusterFile =
            toml::from_str(text).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if f.nodes.is_empty() {
            return Err(ConfigError::Invalid("at least one node is needed".into()));
        }
        let mut ids: Vec<u64> = f.nodes.iter().map(|n| n.id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != f.nodes.len() || ids.contains(&0) {
            return Err(ConfigError::Invalid(
                "node ids must be unique and non-zero".into(),
            ));
        }
        if f.voters().next().is_none() {
            return Err(ConfigError::Invalid("at least one voter is needed".into()));
        }
        if let Some(t) = &f.learners {
            if !t.api.contains("{id}") || !t.rpc.contains("{id}") {
                return Err(ConfigError::Invalid(
                    "[learners] api and rpc must contain {id}".into(),
                ));
            }
        }
        Ok(f)
    }

    /// The voters: the nodes the cluster is initialized with.
    pub fn voters(&self) -> impl Iterator<Item = &NodeEntry> {
        self.nodes.iter().filter(|n| n.role == MemberRole::Voter)
    }

    /// Node `id`: its entry, or for an id the file does not list, a learner at the
    /// `[learners]` addresses when the file has them.
    pub fn node(&self, id: u64) -> Option<NodeEntry> {
        if let Some(n) = self.nodes.iter().find(|n| n.id == id) {
            return Some(n.clone());
        }
        let t = self.learners.as_ref()?;
        let fill = |s: &str| s.replace("{id}", &id.to_string());
        Some(NodeEntry {
            id,
            api: fill(&t.api),
            rpc: fill(&t.rpc),
            role: MemberRole::Learner,
        })
    }

    /// The voters as a membership map: what a new cluster is initialized with.
    pub fn members(&self) -> BTreeMap<u64, NodeAddr> {
        self.voters()
            .map(|n| {
                (
                    n.id,
                    NodeAddr {
                        api_addr: n.api.clone(),
                        rpc_addr: n.rpc.clone(),
                    },
                )
            })
            .collect()
    }

    /// API addresses of every node, voters and learners.
    pub fn api_addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.api.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_the_hostname_ordinal() {
        assert_eq!(id_from_hostname("catalog-2"), Some(2));
        assert_eq!(id_from_hostname("confeitaria-catalog-13\n"), Some(13));
        assert_eq!(id_from_hostname("catalog-0"), None);
        assert_eq!(id_from_hostname("catalog"), None);
        assert_eq!(id_from_hostname("catalog-x"), None);
    }

    #[test]
    fn learners_are_listed_or_templated_and_never_in_the_initial_membership() {
        let f = ClusterFile::parse(
            "[cluster]\nsecret = \"s\"\njwt_secret = \"j\"\n\
             [[nodes]]\nid = 1\napi = \"h1:5001\"\nrpc = \"h1:6001\"\n\
             [[nodes]]\nid = 4\napi = \"h4:5001\"\nrpc = \"h4:6001\"\nrole = \"learner\"\n\
             [learners]\napi = \"catalog-{id}.peer:5001\"\nrpc = \"catalog-{id}.peer:6001\"\n",
        )
        .unwrap();
        assert_eq!(f.members().keys().copied().collect::<Vec<_>>(), [1]);
        assert_eq!(f.api_addrs(), ["h1:5001", "h4:5001"]);
        assert_eq!(f.node(4).unwrap().role, MemberRole::Learner);
        let seven = f.node(7).unwrap();
        assert_eq!(seven.api, "catalog-7.peer:5001");
        assert_eq!(seven.role, MemberRole::Learner);
        let no_voter = "[cluster]\nsecret = \"s\"\njwt_secret = \"j\"\n\
             [[nodes]]\nid = 4\napi = \"h4:5001\"\nrpc = \"h4:6001\"\nrole = \"learner\"\n";
        assert!(ClusterFile::parse(no_voter).is_err());
    }

    /// The StatefulSet's pods decide their role from their ordinal alone: the committed
    /// deploy/k8s cluster file makes 1–3 the voters and any other ordinal a learner at its
    /// pod's name under the headless Service, joining through the voters.
    #[test]
    fn k8s_ordinals_beyond_the_voters_are_learners_at_their_pod_names() {
        let f = ClusterFile::parse(include_str!("../../deploy/k8s/base/cluster.toml")).unwrap();
        assert_eq!(f.members().keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
        for host in ["catalog-1", "catalog-2", "catalog-3"] {
            let id = id_from_hostname(host).unwrap();
            let me = f.node(id).unwrap();
            assert_eq!(me.role, MemberRole::Voter, "{host}");
            assert_eq!(me.api, format!("{host}.catalog-peer:5001"));
        }
        for host in ["catalog-4", "catalog-5", "catalog-12"] {
            let id = id_from_hostname(host).unwrap();
            let me = f.node(id).unwrap();
            assert_eq!(me.role, MemberRole::Learner, "{host}");
            assert_eq!(me.api, format!("{host}.catalog-peer:5001"));
            assert_eq!(me.rpc, format!("{host}.catalog-peer:6001"));
        }
        let seeds: Vec<&str> = f.voters().map(|n| n.rpc.as_str()).collect();
        assert_eq!(
            seeds,
            [
                "catalog-1.catalog-peer:6001",
                "catalog-2.catalog-peer:6001",
                "catalog-3.catalog-peer:6001"
            ]
        );
    }

    #[test]
    fn development_secrets_are_refused_beyond_loopback() {
        let dev = Secret::new(DEV_JWT_SECRET);
        let real = Secret::new("a9f1c0ffee");
        assert!(refuse_dev_secrets("127.0.0.1:5002", &[&dev], false).is_ok());
        assert!(refuse_dev_secrets("localhost:5002", &[&dev], false).is_ok());
        assert!(refuse_dev_secrets("[::1]:5002", &[&dev], false).is_ok());
        assert!(refuse_dev_secrets("0.0.0.0:5002", &[&dev], false).is_err());
        assert!(refuse_dev_secrets("catalog-1:5001", &[&real, &dev], false).is_err());
        assert!(refuse_dev_secrets("0.0.0.0:5002", &[&dev], true).is_ok());
        assert!(refuse_dev_secrets("0.0.0.0:5002", &[&real], false).is_ok());
    }
}
