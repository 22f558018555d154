//! What `up` starts: one [`ServiceSpec`] per service in the cluster file. Adding a service
//! is one entry in [`plan`] plus the hidden `serve-*` subcommand that runs it.
//!
//! Every service is this same executable run with a hidden subcommand, so
//! `cargo run --release --bin confeitaria -- up` needs no other build step — except Redis:
//! when `redis-server` is installed and the cluster file names no `redis_url`, [`with_redis`]
//! adds one on a free port, its data in `<data_dir>/redis`, and points the cart and orders at
//! it ([`Backing`] says which store and broker the shop ends up with).

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use confeitaria_client::config::{ClusterFile, NodeEntry};
use confeitaria_types::MemberRole;

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
    /// How `up` knows it can serve.
    pub ready: Ready,
    /// The program to run; `None`: this executable.
    pub program: Option<PathBuf>,
}

/// How `up` knows a service can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// `GET` of this path answers 2xx.
    Http(&'static str),
    /// A Redis `PING` answers `+PONG`.
    RedisPing,
}

impl ServiceSpec {
    /// Base URL of its API.
    pub fn url(&self) -> String {
        match self.ready {
            Ready::Http(_) => format!("http://{}", self.addr),
            Ready::RedisPing => format!("redis://{}", self.addr),
        }
    }
}

/// Which store and broker the shop's cart and orders use, for `up`'s table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backing {
    /// The Redis `up` started: carts in it, order events through its stream.
    OwnRedis,
    /// The cluster file's `redis_url` for the cart (`store`) and orders (`broker`).
    Configured {
        /// The cart keeps carts in Redis.
        store: bool,
        /// Orders publishes to the Redis stream.
        broker: bool,
    },
}

impl Backing {
    /// What the cart keeps carts in.
    pub fn store(&self) -> &'static str {
        match self {
            Backing::OwnRedis | Backing::Configured { store: true, .. } => "redis",
            Backing::Configured { store: false, .. } => "embedded (in memory)",
        }
    }

    /// How order events reach the cart.
    pub fn broker(&self) -> &'static str {
        match self {
            Backing::OwnRedis | Backing::Configured { broker: true, .. } => {
                "redis stream pedidos:eventos"
            }
            Backing::Configured { broker: false, .. } => "direct (orders -> cart over HTTP)",
        }
    }
}

/// Runs `redis-server "$@"` under `sh`, stopping it (SIGTERM: it writes its data and exits)
/// when standard input closes — when `up` closes it, and also when `up` dies without a
/// chance to, as every child of `up` does. The shell exits when Redis does. (`sh` gives a
/// background job `/dev/null` as standard input, hence the copy on descriptor 3.)
const REDIS_UNDER_SH: &str = r#"exec 3<&0
redis-server "$@" </dev/null 3<&- & pid=$!
(cat <&3 >/dev/null; kill -TERM "$pid") &
wait "$pid""#;

/// Whether `name` is an executable file in a directory of `PATH`.
pub fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            std::fs::metadata(dir.join(name)).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
    })
}

/// Decides the shop's store and broker. When the cluster file runs the cart or orders, gives
/// neither a `redis_url` and `redis_installed`, points both at a Redis on a free port and
/// returns its spec (data in `data_dir/redis`); otherwise leaves the file as it is.
pub fn with_redis(
    file: &mut ClusterFile,
    data_dir: &Path,
    redis_installed: bool,
    ports: &mut FreePorts,
) -> Result<(Backing, Option<ServiceSpec>), CliError> {
    let services = [&file.cart, &file.orders];
    let configured = |i: usize| {
        services[i]
            .as_ref()
            .is_some_and(|s| !s.redis_url.is_empty())
    };
    let (store, broker) = (configured(0), configured(1));
    let any_service = services.iter().any(|s| s.is_some());
    if store || broker || !any_service || !redis_installed || !cfg!(feature = "services") {
        return Ok((Backing::Configured { store, broker }, None));
    }
    let addr = ports.resolve("127.0.0.1:0")?;
    let url = format!("redis://{addr}");
    for s in [&mut file.cart, &mut file.orders].into_iter().flatten() {
        s.redis_url = url.clone();
    }
    let dir = data_dir.join("redis");
    std::fs::create_dir_all(&dir).map_err(CliError::io(format!("creating {}", dir.display())))?;
    let port = addr.rsplit_once(':').map_or("", |(_, p)| p);
    let mut args: Vec<OsString> = vec!["-c".into(), REDIS_UNDER_SH.into(), "redis".into()];
    for a in ["--port", port, "--bind", "127.0.0.1", "--daemonize", "no"] {
        args.push(a.into());
    }
    // Append-only file, fsync'd every second: carts and the order stream survive a restart.
    for a in ["--appendonly", "yes", "--save", "", "--dir"] {
        args.push(a.into());
    }
    args.push(dir.into_os_string());
    let spec = ServiceSpec {
        name: "redis".into(),
        node_id: None,
        args,
        addr,
        ready: Ready::RedisPing,
        program: Some(PathBuf::from("sh")),
    };
    Ok((Backing::OwnRedis, Some(spec)))
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
            ready: Ready::Http("/ready"),
            program: None,
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
        ready: Ready::Http("/ready"),
        program: None,
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

/// Appends `n` learners to `file`'s nodes: ids after the highest, on the host of the last
/// node, each port 10 above the previous node's (`5021` → `5031`, `5041`, …; `0` stays `0`,
/// a free port).
pub fn with_learners(mut file: ClusterFile, n: u32) -> Result<ClusterFile, CliError> {
    for _ in 0..n {
        let Some(last) = file.nodes.iter().max_by_key(|e| e.id).cloned() else {
            return Err(CliError::Other("the cluster file lists no node".into()));
        };
        let next = |addr: &str| -> Result<String, CliError> {
            let bad = || CliError::Other(format!("address '{addr}' has no numeric port"));
            let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
            let port: u16 = port.parse().map_err(|_| bad())?;
            let port = match port {
                0 => 0,
                p => p.checked_add(10).ok_or_else(bad)?,
            };
            Ok(format!("{host}:{port}"))
        };
        file.nodes.push(NodeEntry {
            id: last.id + 1,
            api: next(&last.api)?,
            rpc: next(&last.rpc)?,
            role: MemberRole::Learner,
        });
    }
    Ok(file)
}

/// Where `up` looks for free ports: below Linux's ephemeral range (32768–60999), which the
/// source ports of every outgoing connection on the machine come from, and below the fixed
/// ports of the container test (25001–29090).
pub const FREE_PORTS: std::ops::Range<u16> = 10_000..25_000;

/// The ports picked for a cluster file's port-0 addresses, each held bound until the whole
/// file is resolved so no two addresses get the same one. Dropping it frees them for the
/// services to bind a moment later; a port taken in between (another `up` starting at the
/// same time) makes that service exit, and `up` says so with its log.
pub struct FreePorts {
    held: Vec<TcpListener>,
    next: u16,
}

impl Default for FreePorts {
    /// Starts the search at a random port of [`FREE_PORTS`], so that two `up`s started at
    /// the same time rarely try the same ports.
    fn default() -> Self {
        let span = FREE_PORTS.end - FREE_PORTS.start;
        Self {
            held: Vec::new(),
            next: FREE_PORTS.start + rand::random::<u16>() % span,
        }
    }
}

impl FreePorts {
    /// `addr` itself, or with its port 0 replaced by a port of [`FREE_PORTS`] that is free
    /// now and held until `self` is dropped.
    pub fn resolve(&mut self, addr: &str) -> Result<String, CliError> {
        let Some((host, port)) = addr.rsplit_once(':') else {
            return Err(CliError::Other(format!("address '{addr}' has no port")));
        };
        if port != "0" {
            return Ok(addr.to_owned());
        }
        for _ in FREE_PORTS {
            let candidate = format!("{host}:{}", self.next);
            self.next = if self.next + 1 == FREE_PORTS.end {
                FREE_PORTS.start
            } else {
                self.next + 1
            };
            match TcpListener::bind(&candidate) {
                Ok(l) => {
                    self.held.push(l);
                    return Ok(candidate);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {}
                Err(e) => return Err(CliError::io(format!("binding {candidate}"))(e)),
            }
        }
        Err(CliError::Other(format!(
            "no free port for '{addr}' in {}-{}",
            FREE_PORTS.start,
            FREE_PORTS.end - 1
        )))
    }
}

/// Replaces every port 0 in `file` by a port free now (held in `ports`), so the addresses can
/// be written into the Raft membership before any node starts. A node that already ran (it is
/// in `previous`, the effective file of the last run on the same data) keeps its old
/// addresses, since its peers know it by them.
pub fn resolve_free_ports(
    mut file: ClusterFile,
    previous: Option<&ClusterFile>,
    ports: &mut FreePorts,
) -> Result<ClusterFile, CliError> {
    for n in &mut file.nodes {
        let before = previous.and_then(|p| p.nodes.iter().find(|o| o.id == n.id));
        match before {
            Some(o) if n.api.ends_with(":0") && n.rpc.ends_with(":0") => {
                n.api = o.api.clone();
                n.rpc = o.rpc.clone();
            }
            _ => {
                n.api = ports.resolve(&n.api)?;
                n.rpc = ports.resolve(&n.rpc)?;
            }
        }
    }
    for s in [&mut file.cart, &mut file.orders, &mut file.gateway]
        .into_iter()
        .flatten()
    {
        s.addr = ports.resolve(&s.addr)?;
    }
    Ok(file)
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
        let f = resolve_free_ports(
            ClusterFile::parse(FILE).unwrap(),
            None,
            &mut FreePorts::default(),
        )
        .unwrap();
        assert!(!f.nodes[0].api.ends_with(":0"));
        assert_ne!(f.nodes[0].api, f.nodes[0].rpc);
        assert_eq!(f.nodes[1].api, "127.0.0.1:5011");
    }

    #[test]
    fn learners_follow_the_last_node_ten_ports_apart() {
        let f = ClusterFile::parse(
            "[cluster]\nsecret = \"s\"\njwt_secret = \"j\"\n[[nodes]]\nid = 3\n\
             api = \"127.0.0.1:5021\"\nrpc = \"127.0.0.1:6021\"\n",
        )
        .unwrap();
        let f = with_learners(f, 2).unwrap();
        let learners: Vec<(u64, &str, &str, MemberRole)> = f.nodes[1..]
            .iter()
            .map(|n| (n.id, n.api.as_str(), n.rpc.as_str(), n.role))
            .collect();
        assert_eq!(
            learners,
            [
                (4, "127.0.0.1:5031", "127.0.0.1:6031", MemberRole::Learner),
                (5, "127.0.0.1:5041", "127.0.0.1:6041", MemberRole::Learner)
            ]
        );
        let zero = with_learners(ClusterFile::parse(FILE).unwrap(), 1).unwrap();
        assert_eq!(zero.nodes[2].api, "127.0.0.1:5021");
        assert_eq!(zero.nodes[2].rpc, "127.0.0.1:0", "port 0 stays a free port");
    }

    #[test]
    fn free_ports_are_distinct_held_and_outside_the_ephemeral_range() {
        let start = FREE_PORTS.end - 3;
        let mut a = FreePorts {
            held: Vec::new(),
            next: start,
        };
        let port = |addr: String| addr.rsplit_once(':').unwrap().1.parse::<u16>().unwrap();
        let first: Vec<u16> = (0..6)
            .map(|_| port(a.resolve("127.0.0.1:0").unwrap()))
            .collect();
        assert!(first.iter().all(|p| FREE_PORTS.contains(p)), "{first:?}");
        let mut distinct = first.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), first.len(), "{first:?}");
        // Held: a second picker starting at the same port skips every one of them.
        let mut b = FreePorts {
            held: Vec::new(),
            next: start,
        };
        let second = port(b.resolve("127.0.0.1:0").unwrap());
        assert!(!first.contains(&second), "{second} in {first:?}");
        assert_eq!(a.resolve("127.0.0.1:5011").unwrap(), "127.0.0.1:5011");
    }

    #[test]
    fn a_node_that_ran_before_keeps_its_ports() {
        let first = resolve_free_ports(
            ClusterFile::parse(FILE).unwrap(),
            None,
            &mut FreePorts::default(),
        )
        .unwrap();
        let again = resolve_free_ports(
            ClusterFile::parse(FILE).unwrap(),
            Some(&first),
            &mut FreePorts::default(),
        )
        .unwrap();
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

    fn with_services(redis_url: &str) -> ClusterFile {
        let extra = format!(
            "[cart]\naddr = \"127.0.0.1:0\"\nredis_url = \"{redis_url}\"\n[orders]\naddr = \"127.0.0.1:0\"\n"
        );
        ClusterFile::parse(&format!("{FILE}{extra}")).unwrap()
    }

    #[test]
    fn up_runs_its_own_redis_only_when_installed_and_none_is_configured() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = with_services("");
        let (b, spec) = with_redis(&mut f, dir.path(), true, &mut FreePorts::default()).unwrap();
        let spec = spec.unwrap();
        assert_eq!((b.store(), spec.ready), ("redis", Ready::RedisPing));
        let url = format!("redis://{}", spec.addr);
        assert_eq!(spec.url(), url);
        assert_eq!(f.cart.as_ref().unwrap().redis_url, url);
        assert_eq!(f.orders.as_ref().unwrap().redis_url, url);
        assert!(dir.path().join("redis").is_dir());

        let mut f = with_services("");
        let (b, spec) = with_redis(&mut f, dir.path(), false, &mut FreePorts::default()).unwrap();
        assert!(spec.is_none());
        assert_eq!(b.store(), "embedded (in memory)");
        assert_eq!(b.broker(), "direct (orders -> cart over HTTP)");

        // The cluster file's URL wins.
        let mut f = with_services("redis://10.0.0.5:6379");
        let (b, spec) = with_redis(&mut f, dir.path(), true, &mut FreePorts::default()).unwrap();
        assert!(spec.is_none());
        assert_eq!(
            (b.store(), b.broker()),
            ("redis", "direct (orders -> cart over HTTP)")
        );
        assert_eq!(f.cart.unwrap().redis_url, "redis://10.0.0.5:6379");
    }
}
