//! Test helpers shared by the services' tests: a real `redis-server` on a free port, waiting
//! on a condition with a deadline, cluster files, and running a service's binary.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Polls `cond` every 20 ms until it holds or `deadline` passes; returns whether it held.
pub async fn eventually<F, Fut>(deadline: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Where [`free_port`] looks: above Linux's ephemeral range (32768–60999), so that no
/// outgoing connection's source port takes a port between a test choosing it and a server
/// binding it (nor while a killed server is down before its restart on the same port); and
/// apart from the ports `confeitaria up` chooses (10000–24999).
pub const TEST_PORTS: std::ops::Range<u16> = 61_000..65_535;

/// A port of [`TEST_PORTS`] free on every interface a moment ago (so on 127.0.0.1 to
/// 127.0.0.4 alike), never the same one twice in a test process before all of them have been
/// handed out: the search goes on from where the last one ended, begun at a random port.
pub fn free_port() -> u16 {
    static NEXT: std::sync::LazyLock<AtomicU32> =
        std::sync::LazyLock::new(|| AtomicU32::new(rand::random::<u32>()));
    let span = u32::from(TEST_PORTS.end - TEST_PORTS.start);
    for _ in 0..span {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % span;
        let port = TEST_PORTS.start + u16::try_from(offset).unwrap_or_default();
        if TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
    panic!(
        "no free port in {}-{}",
        TEST_PORTS.start,
        TEST_PORTS.end - 1
    )
}

/// A cluster file's text: `[cluster]` with a `secret` and the `cluster` lines (`jwt_secret`
/// is required), one `[[nodes]]` entry per API address in `apis`, then `sections` (`[cart]`,
/// `[orders]`, ...).
pub fn cluster_toml(cluster: &str, apis: &[&str], sections: &str) -> String {
    let mut text = format!("[cluster]\nsecret = \"test-cluster-secret\"\n{cluster}\n");
    for (i, api) in apis.iter().enumerate() {
        let id = i + 1;
        text += &format!("[[nodes]]\nid = {id}\napi = \"{api}\"\nrpc = \"127.0.0.1:{id}\"\n");
    }
    text + sections
}

/// A child process, killed and reaped on drop so a failed assertion leaves nothing behind.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `cmd` until it exits by itself (killed after `deadline`): its exit code (`None` if it
/// was killed or died by a signal) and what it wrote to stdout and stderr.
pub fn run_to_exit(cmd: &mut Command, deadline: Duration) -> (Option<i32>, String) {
    let mut file = tempfile::tempfile().unwrap_or_else(|e| panic!("no temp file: {e}"));
    let out = |f: &std::fs::File| f.try_clone().unwrap_or_else(|e| panic!("dup: {e}"));
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out(&file))
        .stderr(out(&file))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut child = ChildGuard(child);
    let until = Instant::now() + deadline;
    let code = loop {
        match child.0.try_wait() {
            Ok(Some(status)) => break status.code(),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            _ => break None,
        }
    };
    drop(child);
    let mut text = String::new();
    let _ = std::io::Seek::rewind(&mut file);
    let _ = file.read_to_string(&mut text);
    (code, text)
}

/// A `redis-server` process on a free loopback port with its data in a temp dir (AOF with
/// fsync on every write, so a restart finds what was acknowledged). Killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

/// One synchronous PING over a raw socket: true on `+PONG`.
fn ping(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

impl RedisServer {
    /// Starts a server on a free port and waits (at most 10 s) until it answers PING.
    pub fn start() -> Self {
        // A port found free may be taken before redis-server binds it: try a few.
        for _ in 0..5 {
            let mut server = Self {
                child: None,
                port: free_port(),
                dir: tempfile::tempdir().unwrap_or_else(|e| panic!("no temp dir: {e}")),
            };
            if server.spawn_and_wait() {
                return server;
            }
        }
        panic!("redis-server did not start (is it installed? apt-get install -y redis-server)");
    }

    /// Spawns on `self.port` and waits for PING; false if it exited or never answered.
    fn spawn_and_wait(&mut self) -> bool {
        let dir = self.dir.path();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", "always"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run redis-server ({e}); apt-get install redis"));
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if ping(self.port) {
                return true;
            }
            let exited = self
                .child
                .as_mut()
                .map(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited == Some(true) {
                self.child = None;
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        false
    }

    /// `redis://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Its port (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        match &self.child {
            Some(c) => c.id(),
            None => panic!("redis-server on {} is not running", self.port),
        }
    }

    /// `kill -9` and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port with the same data directory.
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            self.spawn_and_wait(),
            "redis-server did not restart on {}",
            self.port
        );
    }

    /// Sends a signal (`STOP`, `CONT`) to the server process.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} failed");
    }

    /// A direct connection, for looking at keys and streams.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.url())
            .unwrap_or_else(|e| panic!("bad Redis URL {}: {e}", self.url()));
        client
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.url()))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
