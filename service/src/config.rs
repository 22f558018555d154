//! Settings every service takes the same way: flags, then `CONFEITARIA_*` variables (clap),
//! then the cluster file, then the defaults the service declares — parsed once, at start-up.
//!
//! A service's `Config` is a `clap::Parser` that flattens [`ClusterFileArg`] and implements
//! [`Settings::fill`]: for each setting the cluster file knows, it hands the file's value to
//! [`Given::fill`] (or [`Given::fill_service`] for those every service has), which keeps it
//! only if no flag or variable gave that setting.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::parser::ValueSource;
use clap::{ArgMatches, FromArgMatches, Parser};
use confeitaria_client::config::{ClusterFile, ConfigError as FileError, Secret, ServiceEntry};

/// The catalog nodes of `cluster.toml`, for a service started without one.
pub const DEFAULT_CATALOG_NODES: &str = "127.0.0.1:5001,127.0.0.1:5011,127.0.0.1:5021";

/// The development JWT secret of `cluster.toml`, used when none is configured.
pub use confeitaria_client::config::DEV_JWT_SECRET;

/// The cluster file read when `--cluster-file` is not given, if the working directory has it.
pub const DEFAULT_CLUSTER_FILE: &str = "cluster.toml";

/// A Redis URL, which may hold a password: printed redacted. Empty means none.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL, or `None` when empty.
    pub fn get(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.clone())
    }
}

impl FromStr for RedisUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty()
            || s.starts_with("redis://")
            || s.starts_with("rediss://")
            || s.starts_with("unix://")
        {
            Ok(Self(s.to_owned()))
        } else {
            Err("expected redis://host:port[/db] or nothing".to_owned())
        }
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("RedisUrl(none)")
        } else {
            f.write_str("RedisUrl(<redacted>)")
        }
    }
}

/// `--cluster-file`, flattened into every service's settings.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterFileArg {
    /// The cluster file, whose values fill in what flags and environment do not give
    /// (default: `cluster.toml` if the working directory has one; empty: none, built-in
    /// defaults only).
    #[arg(long = "cluster-file", env = "CONFEITARIA_CLUSTER_FILE", value_parser = any_path)]
    pub path: Option<PathBuf>,
}

/// clap's own path parser refuses an empty value, which here means "no cluster file".
fn any_path(s: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(s))
}

impl ClusterFileArg {
    /// The file to read: the one given (which must then exist), else `cluster.toml` if present.
    pub fn resolve(&self) -> Option<PathBuf> {
        match &self.path {
            Some(p) if p.as_os_str().is_empty() => None,
            Some(p) => Some(p.clone()),
            None => Some(PathBuf::from(DEFAULT_CLUSTER_FILE)).filter(|p| p.is_file()),
        }
    }
}

/// The settings a flag or a `CONFEITARIA_*` variable gave: the cluster file leaves them alone.
/// `Given::default()` names none, so the file fills everything it has.
#[derive(Debug, Default)]
pub struct Given(BTreeSet<String>);

impl Given {
    /// The settings of `matches` that did not come from a default.
    pub fn of(matches: &ArgMatches) -> Self {
        Self(
            matches
                .ids()
                .map(|id| id.as_str())
                .filter(|id| {
                    matches!(
                        matches.value_source(id),
                        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                    )
                })
                .map(str::to_owned)
                .collect(),
        )
    }

    /// Puts the cluster file's `value` (if it has one) into `slot`, unless setting `id` (the
    /// field's name) was given.
    pub fn fill<T>(&self, id: &str, slot: &mut T, value: Option<T>) {
        if let Some(v) = value {
            if !self.0.contains(id) {
                *slot = v;
            }
        }
    }

    /// Fills the settings every service has: `addr` and `redis_url` from its own section
    /// `own` of `file` (`[cart]`, `[orders]`), `catalog_nodes` from the API addresses of its
    /// `[[nodes]]`.
    pub fn fill_service(
        &self,
        file: &ClusterFile,
        own: Option<&ServiceEntry>,
        addr: &mut String,
        redis_url: &mut RedisUrl,
        catalog_nodes: &mut Vec<String>,
    ) -> Result<(), String> {
        self.fill("addr", addr, own.map(|e| e.addr.clone()));
        let redis = own.map(|e| e.redis_url.parse()).transpose();
        let redis = redis.map_err(|why| format!("redis_url: {why}"))?;
        self.fill("redis_url", redis_url, redis);
        self.fill("catalog_nodes", catalog_nodes, Some(file.api_addrs()));
        Ok(())
    }
}

/// Why a service's settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A flag or variable is wrong (or help or the version was asked for): clap's message.
    #[error(transparent)]
    Args(#[from] clap::Error),
    /// The cluster file cannot be read, is not valid, or holds a bad value.
    #[error("{0}")]
    ClusterFile(String),
}

/// A service's settings: parsed by clap, then filled in from the cluster file. The type
/// flattens a [`ClusterFileArg`], from which [`Settings::load_from`] learns the file.
pub trait Settings: Parser {
    /// Takes from `file` every setting it knows that `given` does not name; an error names
    /// the bad value.
    fn fill(&mut self, file: &ClusterFile, given: &Given) -> Result<(), String>;

    /// The secrets the service signs or checks tokens with, which [`crate::start`] refuses to
    /// expose beyond loopback while they are `cluster.toml`'s development ones.
    fn secrets(&self) -> Vec<&Secret> {
        Vec::new()
    }

    /// Reads the settings from `args` (program name first), the environment and the cluster
    /// file, in that order of precedence, over the declared defaults.
    fn load_from<I, T>(args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = Self::command().try_get_matches_from(args)?;
        let mut settings = Self::from_arg_matches(&matches)?;
        if let Some(path) = ClusterFileArg::from_arg_matches(&matches)?.resolve() {
            let file = read(&path)?;
            settings
                .fill(&file, &Given::of(&matches))
                .map_err(|e| ConfigError::ClusterFile(format!("{}: {e}", path.display())))?;
        }
        Ok(settings)
    }

    /// The settings `file` gives, over the environment's and the defaults: how `confeitaria
    /// up` runs a service on the cluster file it resolved (whose addresses it waits on).
    fn from_cluster_file(file: &ClusterFile) -> Result<Self, ConfigError> {
        let mut settings = Self::try_parse_from([Self::command().get_name().to_owned()])?;
        settings
            .fill(file, &Given::default())
            .map_err(|e| ConfigError::ClusterFile(format!("cluster file: {e}")))?;
        Ok(settings)
    }
}

/// Reads and checks the cluster file at `path`.
fn read(path: &Path) -> Result<ClusterFile, ConfigError> {
    ClusterFile::load(path).map_err(|e| {
        ConfigError::ClusterFile(match e {
            FileError::Read { .. } => e.to_string(),
            FileError::Invalid(why) => format!("{}: invalid cluster file: {why}", path.display()),
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::cluster_toml;

    /// Settings shaped like a service's, with variables no environment sets.
    #[derive(Debug, clap::Parser)]
    #[command(name = "probe")]
    struct Probe {
        #[arg(
            long,
            env = "CONFEITARIA_TEST_PROBE_ADDR",
            default_value = "127.0.0.1:9"
        )]
        addr: String,
        #[arg(long, env = "CONFEITARIA_TEST_PROBE_NODES", value_delimiter = ',',
              default_value = DEFAULT_CATALOG_NODES)]
        catalog_nodes: Vec<String>,
        #[arg(long, env = "CONFEITARIA_TEST_PROBE_REDIS_URL", default_value = "")]
        redis_url: RedisUrl,
        #[command(flatten)]
        cluster_file: ClusterFileArg,
    }

    impl Settings for Probe {
        fn fill(&mut self, file: &ClusterFile, given: &Given) -> Result<(), String> {
            let (addr, redis, nodes) =
                (&mut self.addr, &mut self.redis_url, &mut self.catalog_nodes);
            given.fill_service(file, file.cart.as_ref(), addr, redis, nodes)
        }
    }

    fn file() -> String {
        let cart = "[cart]\naddr = \"10.0.0.9:5002\"\nredis_url = \"redis://10.0.0.5:6379\"\n";
        cluster_toml("jwt_secret = \"j\"", &["10.0.0.1:5001"], cart)
    }

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn the_file_fills_what_flags_do_not_give_and_defaults_the_rest() {
        let (_d, path) = write(&file());
        let p = Probe::load_from(["probe", "--cluster-file", path.to_str().unwrap()]).unwrap();
        assert_eq!(p.addr, "10.0.0.9:5002");
        assert_eq!(p.catalog_nodes, ["10.0.0.1:5001"]);
        assert_eq!(p.redis_url.get().as_deref(), Some("redis://10.0.0.5:6379"));

        let file_arg = format!("--cluster-file={}", path.display());
        let p =
            Probe::load_from(["probe", &file_arg, "--addr=127.0.0.1:0", "--redis-url="]).unwrap();
        assert_eq!(p.addr, "127.0.0.1:0");
        assert_eq!(
            p.redis_url.get(),
            None,
            "an empty flag still beats the file"
        );
        assert_eq!(p.catalog_nodes, ["10.0.0.1:5001"]);

        for none in [&["probe"][..], &["probe", "--cluster-file", ""]] {
            let p = Probe::load_from(none).unwrap();
            assert_eq!(p.addr, "127.0.0.1:9");
            assert_eq!(p.catalog_nodes.join(","), DEFAULT_CATALOG_NODES);
        }
    }

    #[test]
    fn from_cluster_file_takes_everything_the_file_has() {
        let p = Probe::from_cluster_file(&ClusterFile::parse(&file()).unwrap()).unwrap();
        assert_eq!(p.addr, "10.0.0.9:5002");
        let no_cart = ClusterFile::parse(file().split("[cart]").next().unwrap()).unwrap();
        let p = Probe::from_cluster_file(&no_cart).unwrap();
        assert_eq!((p.addr.as_str(), p.redis_url.get()), ("127.0.0.1:9", None));
    }

    #[test]
    fn a_bad_cluster_file_is_an_error_that_names_it() {
        let (_d, path) = write("[cluster]\nsecret = \"s\"\njwt_secret = \"j\"\nnodes = 3\n");
        let e = Probe::load_from(["probe", "--cluster-file", path.to_str().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("c.toml") && e.contains("invalid cluster file"),
            "{e}"
        );

        let (_d, path) = write(&file().replace("redis://10.0.0.5:6379", "http://x"));
        let e = Probe::load_from(["probe", "--cluster-file", path.to_str().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.toml") && e.contains("redis_url"), "{e}");

        let e = Probe::load_from(["probe", "--cluster-file", "/nonexistent/c.toml"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read /nonexistent/c.toml"), "{e}");
    }

    #[test]
    fn a_bad_flag_is_clap_s_error() {
        let e = Probe::load_from(["probe", "--redis-url", "http://x"]).unwrap_err();
        assert!(matches!(e, ConfigError::Args(_)), "{e:?}");
    }
}
