//! [`Shop`]: a `confeitaria up` child on free ports in a temporary directory, killed (with
//! its children) when dropped; and helpers to run other subcommands against it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use tempfile::TempDir;

/// The `confeitaria` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_confeitaria"))
}

/// A running `up`.
pub struct Shop {
    pub dir: Arc<TempDir>,
    pub config: PathBuf,
    pub up: Child,
    /// The `ready` event `up --json` printed.
    pub ready: serde_json::Value,
}

impl Shop {
    /// Writes a cluster file whose every port is 0 and starts `up --json` on it; returns once
    /// it has printed that every service is ready.
    pub fn start() -> Shop {
        Shop::start_with("")
    }

    /// Like [`Shop::start`], with `extra` appended to the cluster file (e.g. `[cart]`).
    pub fn start_with(extra: &str) -> Shop {
        Shop::start_with_env(extra, &[])
    }

    /// Like [`Shop::start_with`], with `env` set for `up` (e.g. a `PATH` without Redis).
    pub fn start_with_env(extra: &str, env: &[(&str, &str)]) -> Shop {
        Shop::start_full(extra, env, &[])
    }

    /// A shop with `extra` appended to the cluster file, `env` set for `up`, and `args` for it.
    pub fn start_full(extra: &str, env: &[(&str, &str)], args: &[&str]) -> Shop {
        let dir = TempDir::new().unwrap();
        let config = dir.path().join("cluster.toml");
        let data = dir.path().join("data");
        let mut text = format!(
            "[cluster]\nsecret = \"test-secret\"\njwt_secret = \"test-jwt\"\ndata_dir = \"{}\"\n",
            data.display()
        );
        for id in 1..=3 {
            text.push_str(&format!(
                "\n[[nodes]]\nid = {id}\napi = \"127.0.0.1:0\"\nrpc = \"127.0.0.1:0\"\n"
            ));
        }
        text.push_str(extra);
        std::fs::write(&config, text).unwrap();
        Shop::launch(Arc::new(dir), config, args, env)
    }

    /// Like [`Shop::start`], with `args` for `up` (e.g. `--learners 1`).
    pub fn start_args(args: &[&str]) -> Shop {
        Shop::start_full("", &[], args)
    }

    /// Starts `up` again on the same cluster file and data, with `args` (e.g. `--fresh`).
    pub fn restart(&self, args: &[&str]) -> Shop {
        Shop::launch(self.dir.clone(), self.config.clone(), args, &[])
    }

    fn launch(dir: Arc<TempDir>, config: PathBuf, args: &[&str], env: &[(&str, &str)]) -> Shop {
        let mut up = Command::new(bin())
            .args(["--json", "--config"])
            .arg(&config)
            .arg("up")
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = up.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut shop = Shop {
            dir,
            config,
            up,
            ready: serde_json::Value::Null,
        };
        let line = rx
            .recv_timeout(Duration::from_secs(90))
            .expect("`up` printed no ready line within 90 s");
        shop.ready = serde_json::from_str(&line).unwrap();
        assert_eq!(shop.ready["event"], "ready", "{line}");
        // Keep draining stdout so `up` never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        shop
    }

    /// PIDs of the services, as `up` reported them when ready.
    pub fn service_pids(&self) -> Vec<u32> {
        self.ready["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["pid"].as_u64().unwrap() as u32)
            .collect()
    }

    /// Runs `confeitaria --config <file> <args>` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Sends SIGINT to `up`, as Ctrl-C does, and waits for it to exit.
    pub fn interrupt(&mut self) -> std::process::ExitStatus {
        let pid = self.up.id().to_string();
        let ok = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(ok.success());
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.up.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < end,
                "`up` did not exit within 30 s of Ctrl-C"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        // Killing `up` closes its children's standard input, which stops them too.
        let _ = self.up.kill();
        let _ = self.up.wait();
    }
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits until `f` holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The body of `GET {base}{path}` (`base` like `http://127.0.0.1:5002`), or `None` when the
/// service does not answer within a second.
pub fn http_get(base: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let addr: std::net::SocketAddr = host.parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}

/// One HTTP/1.0 exchange with `base` (like `http://127.0.0.1:5002`): the status, the head in
/// lowercase and the body; `None` when the service does not answer within 5 s.
pub fn http(
    method: &str,
    base: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String, String)> {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let addr: std::net::SocketAddr = host.parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {host}\r\n");
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += &format!(
        "content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, head.to_ascii_lowercase(), body.to_owned()))
}

/// Adds two units of product 1 to a new cart at `cart` and checks it out at `orders` (both
/// may be the gateway) with idempotency key `key`: the cart's session id and the checkout's
/// status and body.
pub fn add_and_check_out(cart: &str, orders: &str, key: &str) -> (String, u16, String) {
    let add = r#"{"doce_id": 1, "quantidade": 2}"#;
    let (s, head, body) = http("POST", cart, "/api/carrinho/adicionar", &[], add).unwrap();
    assert_eq!(s, 200, "{body}");
    let session = head
        .lines()
        .find_map(|l| l.strip_prefix("x-session-id: "))
        .unwrap()
        .trim()
        .to_owned();
    let pedido = format!(r#"{{"session_id": "{session}"}}"#);
    let key = [("idempotency-key", key)];
    let (s, _, body) = http("POST", orders, "/api/pedidos", &key, &pedido).unwrap();
    (session, s, body)
}
