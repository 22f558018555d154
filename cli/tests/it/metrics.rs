//! Every metric name the Prometheus rules (deploy/prometheus/rules) and the Grafana
//! dashboards (deploy/grafana/provisioning/dashboards) use appears in the `/metrics` of a
//! running shop: `up` with the three nodes, cart, orders, Redis and the gateway, after a little
//! traffic of every kind (reads, forwarded writes, a checkout, a refused add, a rate-limited
//! burst, a read retried past a killed node), since some families only show once they have a sample.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{add_and_check_out, http, http_get, stdout, wait_until, Shop};

const SERVICES: &str = "\n[cart]\naddr = \"127.0.0.1:0\"\nredis_url = \"\"\n\n[orders]\naddr = \
                        \"127.0.0.1:0\"\n\n[gateway]\naddr = \"127.0.0.1:0\"\n";

/// The shop's metric names start with their service's prefix; recording-rule names carry
/// colons and are not scraped.
const PREFIXES: [&str; 4] = ["catalog_", "cart_", "orders_", "gateway_"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `path` relative to the repository, for messages.
fn rel(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The shop's metric names in a PromQL expression (or in rule-file text).
fn metric_names(text: &str) -> BTreeSet<String> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    text.split(|c: char| !is_ident(c))
        .filter(|t| !t.contains(':') && PREFIXES.iter().any(|p| t.starts_with(p)))
        .map(str::to_owned)
        .collect()
}

/// Each metric name the rules and dashboards use, with where it is used.
fn used_names() -> BTreeMap<String, Vec<String>> {
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |text: &str, place: String| {
        for name in metric_names(text) {
            used.entry(name).or_default().push(place.clone());
        }
    };
    let files = |dir: &str, ext: &str| {
        let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .collect();
        v.sort();
        v
    };
    for f in files("deploy/prometheus/rules", "yml") {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            if !line.trim_start().starts_with('#') {
                add(line, format!("{}:{}", rel(&f), n + 1));
            }
        }
    }
    let dashboards = files("deploy/grafana/provisioning/dashboards", "json");
    assert_eq!(dashboards.len(), 3, "{dashboards:?}");
    for f in dashboards {
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        for panel in d["panels"].as_array().unwrap() {
            for t in panel["targets"].as_array().unwrap() {
                let place = format!("{} panel {}", rel(&f), panel["title"]);
                add(t["expr"].as_str().unwrap(), place);
            }
        }
    }
    used
}

/// The sample names an exposition offers, with each family's `# TYPE` line counted too (a
/// counter `x` or `x_total` is scraped as `x_total`; a histogram as `_bucket`, `_sum`,
/// `_count`).
fn exposed_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            let (Some(name), Some(kind)) = (it.next(), it.next()) else {
                continue;
            };
            let family = name.strip_suffix("_total").unwrap_or(name);
            match kind {
                "counter" => names.extend([format!("{family}_total"), name.to_owned()]),
                "histogram" => {
                    names.extend(["_bucket", "_sum", "_count"].map(|s| format!("{name}{s}")))
                }
                "summary" => names.extend(["_sum", "_count"].map(|s| format!("{name}{s}"))),
                _ => {
                    names.insert(name.to_owned());
                }
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

fn url_of(shop: &Shop, name: &str) -> String {
    let services = shop.ready["services"].as_array().unwrap();
    let s = services.iter().find(|s| s["name"] == name).unwrap();
    s["url"].as_str().unwrap().to_owned()
}

#[test]
fn every_metric_the_rules_and_dashboards_use_is_exposed_by_a_running_shop() {
    let used = used_names();
    assert!(used.len() > 20, "too few metric names found: {used:?}");
    // A gateway that rate-limits loopback clients (this test): a bucket of 200 requests that
    // refills at one a second, which the traffic below stays within until the final burst of
    // 400 empties it however slowly the machine runs.
    let shop = Shop::start_with_env(
        SERVICES,
        &[
            ("CONFEITARIA_GATEWAY_RATE_LIMIT_LOOPBACK", "true"),
            ("CONFEITARIA_GATEWAY_RATE_LIMIT", "1"),
            ("CONFEITARIA_GATEWAY_RATE_BURST", "200"),
            ("CONFEITARIA_GATEWAY_PROBE_MS", "2000"),
        ],
    );
    let (gw, cart, orders) = (
        url_of(&shop, "gateway"),
        url_of(&shop, "cart"),
        url_of(&shop, "orders"),
    );
    let nodes: Vec<String> = ["node-1", "node-2", "node-3"]
        .iter()
        .map(|n| url_of(&shop, n))
        .collect();

    // Writes at every node: two of them are followers and forward to the leader.
    let token = stdout(&shop.run(&["token", "--role", "admin"]))
        .trim()
        .to_owned();
    let auth = format!("Bearer {token}");
    for node in &nodes {
        let (s, _, body) = http(
            "PUT",
            node,
            "/api/produtos/1/estoque",
            &[("authorization", &auth)],
            r#"{"estoque": 50}"#,
        )
        .unwrap();
        assert_eq!(s, 200, "{body}");
        // A linearizable read at each node (the read index), a local one too.
        assert!(http_get(node, "/api/produtos/1").is_some_and(|b| b.contains("\"id\":1")));
        assert!(http_get(node, "/api/produtos/1?consistency=local").is_some());
    }

    // A checkout through the gateway: cart, orders, the saga, the order event.
    let (_, s, body) = add_and_check_out(&gw, &gw, "metrics-checkout-1");
    assert_eq!(s, 201, "{body}");
    let delivered = wait_until(Duration::from_secs(15), || {
        http_get(&cart, "/metrics").is_some_and(|m| m.contains("cart_order_events_total{"))
            || http_get(&orders, "/ready").is_some_and(|b| b.contains("\"outbox_pending\":0"))
    });
    assert!(delivered, "the order event was not delivered");

    // An add the cart refuses: more units (60, within the 99 a line may hold) than the
    // stock of 50.
    let too_many = r#"{"doce_id": 1, "quantidade": 60}"#;
    let (s, _, body) = http("POST", &cart, "/api/carrinho/adicionar", &[], too_many).unwrap();
    assert!((400..500).contains(&s), "{s} {body}");

    // A node killed while reads flow through the gateway: those that meet it before the
    // gateway's probes take it out are retried on another. The reads start before the kill,
    // however slowly this machine runs the CLI, and the probes are slowed to widen that window.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let retried = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            // Paced, so the gateway's rate-limit bucket (200, one a second) lasts ~10 s.
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = http("GET", &gw, "/api/produtos/2", &[], "");
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        assert!(shop.run(&["node", "kill", "2"]).status.success());
        let retried = wait_until(Duration::from_secs(20), || {
            http_get(&gw, "/metrics").is_some_and(|m| m.contains("gateway_retries_total{"))
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap();
        retried
    });
    assert!(retried, "no read through the gateway was retried");

    // A burst above what is left of the gateway's bucket: some answers are 429.
    let refused: usize = std::thread::scope(|scope| {
        let burst = || {
            (0..50)
                .filter_map(|_| http("GET", &gw, "/api/produtos/1", &[], ""))
                .filter(|(s, _, _)| *s == 429)
                .count()
        };
        let threads: Vec<_> = (0..8).map(|_| scope.spawn(burst)).collect();
        threads.into_iter().map(|t| t.join().unwrap()).sum()
    });
    assert!(refused > 0, "no request of the burst was rate-limited");

    let mut exposed = BTreeSet::new();
    let mut scraped = Vec::new();
    for base in [&nodes[0], &nodes[2], &cart, &orders, &gw] {
        let text = http_get(base, "/metrics").unwrap_or_else(|| panic!("{base}/metrics"));
        scraped.push(format!("{base}: {} lines", text.lines().count()));
        exposed.extend(exposed_names(&text));
    }
    let missing: Vec<String> = used
        .iter()
        .filter(|(name, _)| !exposed.contains(*name))
        .map(|(name, places)| format!("{name} (used in {})", places.join(", ")))
        .collect();
    assert!(
        missing.is_empty(),
        "metric names used by rules or dashboards that no service exposes:\n  {}\nscraped: {scraped:?}",
        missing.join("\n  ")
    );
}

#[test]
fn metric_names_are_read_from_promql_without_rule_names_or_labels() {
    let names = metric_names(
        "sum by (job) (rate(catalog_http_requests_total{status=~\"5..\",job=\"cart\"}[5m])) \
         / cluster:catalog_raft_leaders:sum and on (job) gateway_breaker_state == 1",
    );
    let want = ["catalog_http_requests_total", "gateway_breaker_state"];
    assert_eq!(names, want.map(String::from).into());
}

#[test]
fn exposition_names_include_typed_families_without_samples() {
    let text = "# TYPE gateway_retries counter\n# TYPE x_seconds histogram\n\
                # TYPE cart_adds_refused_total counter\ncatalog_raft_term 3\n\
                catalog_http_requests_total{route=\"/\"} 1\n";
    let names = exposed_names(text);
    for n in [
        "gateway_retries_total",
        "x_seconds_bucket",
        "x_seconds_count",
        "cart_adds_refused_total",
        "catalog_raft_term",
        "catalog_http_requests_total",
    ] {
        assert!(names.contains(n), "{n} missing from {names:?}");
    }
    assert!(!names.contains("gateway_retries_bucket"));
}
