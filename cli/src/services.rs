//! What `up` starts: one [`ServiceSpec`] per service in the cluster file. Adding a service
//! is one entry in [`plan`] plus the hidden `serve-*` subcommand that runs it.
//!
//! Every service is this same executable run with a hidden subcommand, so
//! `cargo run --release --bin confeitaria -- up` needs no other build step.

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::Path;

use confeitaria_client::config::ClusterFile;

use crate::error::CliError;

/// How `up` starts and checks one service.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// Name in tables and the log file name (`node-1`, `cart`, ...).
    pub name: String,
    /// Catalog node id, for nodes.
    pub node_id: Option<u64>,
    /// Arguments to this executable.
    pub args: Vec<OsString>,
    /// `host:port` of its API.
    pub addr: String,
    /// Path answering 2xx once it can serve.
    pub ready_path: &'static str,
}

impl ServiceSpec {
    /// Base URL of its API.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// The services of `file` (whose ports are already resolved), started with the effective
/// cluster file at `config`.
pub fn plan(file: &ClusterFile, config: &Path) -> Vec<ServiceSpec> {
    let mut specs = Vec::new();
    for n in &file.nodes {
        specs.push(ServiceSpec {
            name: format!("node-{}", n.id),
            node_id: Some(n.id),
            args: vec![
                "--config".into(),
                config.as_os_str().to_owned(),
                "serve-node".into(),
                "--id".into(),
                n.id.to_string().into(),
                "--stop-on-stdin-eof".into(),
            ],
            addr: n.api.clone(),
            ready_path: "/ready",
        });
    }
    let service = |name: &str, sub: &str, addr: &str| ServiceSpec {
        name: name.to_owned(),
        node_id: None,
        args: vec![
            "--config".into(),
            config.as_os_str().to_owned(),
            sub.into(),
            "--stop-on-stdin-eof".into(),
        ],
        addr: addr.to_owned(),
        ready_path: "/ready",
    };
    if cfg!(feature = "services") {
        if let Some(c) = &file.cart {
            specs.push(service("cart", "serve-cart", &c.addr));
        }
        if let Some(o) = &file.orders {
            specs.push(service("orders", "serve-orders", &o.addr));
        }
    }
    if cfg!(feature = "services") {
        if let Some(g) = &file.gateway {
            specs.push(service("gateway", "serve-gateway", &g.addr));
        }
    }
    specs
}

/// Replaces every port 0 in `file` by a port free now, so the addresses can be written into
/// the Raft membership before any node starts. A node that already ran (it is in
/// `previous`, the effective file of the last run on the same data) keeps its old
/// addresses, since its peers know it by them.
pub fn resolve_free_ports(
    mut file: ClusterFile,
    previous: Option<&ClusterFile>,
) -> Result<ClusterFile, CliError> {
    for n in &mut file.nodes {
        let before = previous.and_then(|p| p.nodes.iter().find(|o| o.id == n.id));
        match before {
            Some(o) if n.api.ends_with(":0") && n.rpc.ends_with(":0") => {
                n.api = o.api.clone();
                n.rpc = o.rpc.clone();
            }
            _ => {
                n.api = resolve(&n.api)?;
                n.rpc = resolve(&n.rpc)?;
            }
        }
    }
    for s in [&mut file.cart, &mut file.orders, &mut file.gateway]
        .into_iter()
        .flatten()
    {
        s.addr = resolve(&s.addr)?;
    }
    Ok(file)
}

fn resolve(addr: &str) -> Result<String, CliError> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(CliError::Other(format!("address '{addr}' has no port")));
    };
    if port != "0" {
        return Ok(addr.to_owned());
    }
    let l = TcpListener::bind(addr).map_err(CliError::io(format!("binding {addr}")))?;
    let port = l
        .local_addr()
        .map_err(CliError::io(format!("binding {addr}")))?
        .port();
    Ok(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const FILE: &str = r#"
[cluster]
secret = "s"
jwt_secret = "j"
[[nodes]]
id = 1
api = "127.0.0.1:0"
rpc = "127.0.0.1:0"
[[nodes]]
id = 2
api = "127.0.0.1:5011"
rpc = "127.0.0.1:0"
"#;

    #[test]
    fn port_zero_becomes_a_concrete_port_and_others_stay() {
        let f = resolve_free_ports(ClusterFile::parse(FILE).unwrap(), None).unwrap();
        assert!(!f.nodes[0].api.ends_with(":0"));
        assert_ne!(f.nodes[0].api, f.nodes[0].rpc);
        assert_eq!(f.nodes[1].api, "127.0.0.1:5011");
    }

    #[test]
    fn a_node_that_ran_before_keeps_its_ports() {
        let first = resolve_free_ports(ClusterFile::parse(FILE).unwrap(), None).unwrap();
        let again = resolve_free_ports(ClusterFile::parse(FILE).unwrap(), Some(&first)).unwrap();
        assert_eq!(again.nodes[0].api, first.nodes[0].api);
        assert_eq!(again.nodes[0].rpc, first.nodes[0].rpc);
    }

    #[test]
    fn every_node_is_a_service_started_with_the_effective_file() {
        let f = ClusterFile::parse(FILE).unwrap();
        let specs = plan(&f, Path::new("/tmp/eff.toml"));
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[1].name, "node-2");
        assert!(specs[0].args.iter().any(|a| a == "serve-node"));
        assert!(specs[0].args.iter().any(|a| a == "/tmp/eff.toml"));
    }
}
