//! `up` on free ports; `status` names a leader; `node kill|start`; `chaos kill-leader
//! --rounds 3` completes and prints its figures; Ctrl-C leaves no process behind.

use std::time::Duration;

use crate::harness::{add_and_check_out, alive, http, http_get, stdout, wait_until, Shop};

fn leader_of(shop: &Shop) -> Option<u64> {
    let out = shop.run(&["--json", "status"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    doc["leader"].as_u64()
}

#[test]
fn up_status_chaos_and_ctrl_c_leave_no_process_behind() {
    let mut shop = Shop::start();
    let pids = shop.service_pids();
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|p| alive(*p)));
    assert!(shop.ready["leader"].as_u64().is_some(), "{}", shop.ready);

    // `status` names a leader, as a table and as JSON.
    let out = shop.run(&["status"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("leader: node "), "{text}");
    assert!(text.contains("follower"), "{text}");
    let leader = leader_of(&shop).expect("a leader");

    // `watch` (not on a terminal) prints the table once, then the leader it sees.
    let out = shop.run(&["watch", "--count", "3", "--interval-ms", "50"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("LAST CONTACT"), "{text}");
    assert!(text.contains(&format!("node {leader} leads")), "{text}");

    // The shop serves its catalog through the CLI.
    let out = shop.run(&["estoque", "set", "2", "77"]);
    assert!(out.status.success(), "{out:?}");
    let out = shop.run(&["--json", "produtos", "show", "2"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["produto"]["estoque"], 77);

    // `node kill` takes a follower away and `status` still names the leader; `node start`
    // brings it back.
    let follower = (1..=3).find(|id| *id != leader).unwrap().to_string();
    assert!(shop.run(&["node", "kill", &follower]).status.success());
    let out = shop.run(&["status"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("down"), "{}", stdout(&out));
    let again = shop.run(&["node", "kill", &follower]);
    assert!(
        !again.status.success(),
        "killing a stopped node is an error"
    );
    let err = String::from_utf8_lossy(&again.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "one friendly line: {err}");
    assert!(shop.run(&["node", "start", &follower]).status.success());

    // Three leader kills, measured.
    let out = shop.run(&["chaos", "kill-leader", "--rounds", "3"]);
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for round in 1..=3 {
        assert!(
            text.contains(&format!("round {round}: killed node")),
            "{text}"
        );
    }
    assert!(text.contains("kill → first acknowledged write"), "{text}");
    assert!(text.contains("p50"), "{text}");
    assert!(text.contains("seen by a linearizable read"), "{text}");
    assert!(wait_until(Duration::from_secs(10), || leader_of(&shop).is_some()));

    // The restarted nodes have new PIDs; collect every PID `up` runs now.
    let st: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shop.dir.path().join("data/up.json")).unwrap(),
    )
    .unwrap();
    let mut all: Vec<u32> = st["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["pid"].as_u64().map(|p| p as u32))
        .collect();
    all.extend(pids);
    let up_pid = shop.up.id();

    let status = shop.interrupt();
    assert!(status.success(), "`up` exits cleanly on Ctrl-C: {status:?}");
    assert!(
        wait_until(Duration::from_secs(5), || all.iter().all(|p| !alive(*p))),
        "processes left behind: {:?}",
        all.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
    );
    assert!(!alive(up_pid));
    assert!(!shop.dir.path().join("data/up.json").exists());

    // No `up` is running any more: status fails with a non-zero code, in one line.
    let out = shop.run(&["status"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn data_survives_a_restart_and_fresh_starts_empty() {
    let mut shop = Shop::start();
    assert!(shop.run(&["estoque", "set", "3", "4321"]).status.success());
    assert!(shop.interrupt().success());

    let mut again = shop.restart(&[]);
    let out = again.run(&["--json", "produtos", "show", "3"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["produto"]["estoque"], 4321, "data survived");
    assert!(again.interrupt().success());

    let fresh = shop.restart(&["--fresh"]);
    let out = fresh.run(&["--json", "produtos", "show", "3"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(doc["produto"]["estoque"], 4321, "--fresh started empty");
}

const CART_AND_ORDERS: &str =
    "\n[cart]\naddr = \"127.0.0.1:0\"\nredis_url = \"\"\n\n[orders]\naddr = \"127.0.0.1:0\"\n";

/// The URL `up` reported for service `name`.
fn url_of(shop: &Shop, name: &str) -> String {
    let services = shop.ready["services"].as_array().unwrap();
    let s = services.iter().find(|s| s["name"] == name).unwrap();
    s["url"].as_str().unwrap().to_owned()
}

/// Adds two units to a new cart, checks it out, and asserts that the cart is gone within
/// 2 s and orders' outbox is empty.
fn a_checkout_empties_its_cart_within_2s(shop: &Shop) {
    let (cart, orders) = (url_of(shop, "cart"), url_of(shop, "orders"));
    assert!(shop.run(&["estoque", "set", "1", "50"]).status.success());
    let (session, s, body) = add_and_check_out(&cart, &orders, "up-checkout-1");
    assert_eq!(s, 201, "{body}");
    assert!(body.contains("\"confirmado\""), "{body}");
    let path = format!("/api/carrinho/{session}");
    let emptied = wait_until(Duration::from_secs(2), || {
        http("GET", &cart, &path, &[], "").is_some_and(|(s, _, _)| s == 404)
    });
    assert!(
        emptied,
        "the cart still holds the order's items 2 s after checkout"
    );
    let mut ready = None;
    let drained = wait_until(Duration::from_secs(2), || {
        ready = http_get(&orders, "/ready");
        ready
            .as_deref()
            .is_some_and(|b| b.contains("\"outbox_pending\":0"))
    });
    assert!(drained, "{ready:?}");
}

#[test]
fn without_redis_installed_up_runs_the_embedded_store_and_delivers_order_events_directly() {
    let no_redis = tempfile::tempdir().unwrap();
    let path = no_redis.path().to_str().unwrap();
    let mut shop = Shop::start_with_env(CART_AND_ORDERS, &[("PATH", path)]);
    let services = shop.ready["services"].as_array().unwrap().clone();
    let names: Vec<&str> = services
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["node-1", "node-2", "node-3", "cart", "orders"]);
    let cart = services.iter().find(|s| s["name"] == "cart").unwrap();
    assert_eq!(cart["role"], "service");
    assert_eq!(shop.ready["store"], "embedded (in memory)");
    assert_eq!(shop.ready["broker"], "direct (orders -> cart over HTTP)");
    a_checkout_empties_its_cart_within_2s(&shop);
    let pids = shop.service_pids();
    assert!(pids.iter().all(|p| alive(*p)));
    assert!(shop.interrupt().success());
    assert!(
        wait_until(Duration::from_secs(5), || pids.iter().all(|p| !alive(*p))),
        "processes left behind"
    );
}

#[test]
fn with_redis_installed_up_starts_it_wires_cart_and_orders_and_it_dies_with_up() {
    let mut shop = Shop::start_with(CART_AND_ORDERS);
    let names: Vec<String> = shop.ready["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        ["node-1", "node-2", "node-3", "cart", "orders", "redis"]
    );
    assert_eq!(shop.ready["store"], "redis");
    assert_eq!(shop.ready["broker"], "redis stream pedidos:eventos");
    let redis = url_of(&shop, "redis");
    let ready = http_get(&url_of(&shop, "cart"), "/ready").unwrap_or_default();
    assert!(ready.contains("\"store\":\"redis\""), "{ready}");
    let delivery = http_get(&url_of(&shop, "orders"), "/ready").unwrap_or_default();
    assert!(delivery.contains("\"delivery\":\"redis\""), "{delivery}");
    a_checkout_empties_its_cart_within_2s(&shop);
    assert!(shop.dir.path().join("data/redis").is_dir());

    // `up` killed without a chance to stop anything: Redis goes with it.
    let pids = shop.service_pids();
    let _ = shop.up.kill();
    let _ = shop.up.wait();
    let addr = redis.trim_start_matches("redis://").to_owned();
    let gone = wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(&addr).is_err() && pids.iter().all(|p| !alive(*p))
    });
    assert!(gone, "redis or a service outlived a killed `up`");
}

#[test]
fn the_cart_up_runs_on_redis_consumes_order_events() {
    let redis = confeitaria_service::testing::RedisServer::start();
    let mut shop = Shop::start_with(&format!(
        "\n[cart]\naddr = \"127.0.0.1:0\"\nredis_url = \"{}\"\n",
        redis.url()
    ));
    let services = shop.ready["services"].as_array().unwrap().clone();
    let cart = services.iter().find(|s| s["name"] == "cart").unwrap();
    let url = cart["url"].as_str().unwrap().to_owned();
    // Without the consumer a confirmed order's cart is never emptied: `/ready` says
    // `events: disabled`. With it, the cart reads the order stream and says `connected`.
    let mut last = None;
    let consuming = wait_until(Duration::from_secs(10), || {
        last = http_get(&url, "/ready");
        last.as_deref()
            .is_some_and(|b| b.contains("\"events\":\"connected\""))
    });
    assert!(
        consuming,
        "the cart under `up` does not consume order events: {last:?}"
    );
    assert!(last.unwrap().contains("\"store\":\"redis\""));
    assert!(shop.interrupt().success());
}

#[test]
fn up_with_learners_starts_them_and_status_shows_them_serving_reads() {
    let mut shop = Shop::start_args(&["--learners", "1"]);
    let services = shop.ready["services"].as_array().unwrap().clone();
    let learner = services
        .iter()
        .find(|s| s["node_id"] == 4)
        .unwrap_or_else(|| panic!("no node 4 in {}", shop.ready));
    assert_eq!(learner["role"], "learner", "{}", shop.ready);
    let url = learner["url"].as_str().unwrap().to_owned();

    let out = shop.run(&["--json", "status"]);
    assert!(out.status.success(), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == 4)
        .unwrap_or_else(|| panic!("status lacks node 4: {doc}"))
        .clone();
    assert_eq!(row["status"]["role"], "learner", "{doc}");
    assert_eq!(
        row["status"]["membership"]["voters"],
        serde_json::json!([1, 2, 3])
    );
    let text = stdout(&shop.run(&["status"]));
    assert!(
        text.lines()
            .any(|l| l.starts_with('4') && l.contains("learner")),
        "{text}"
    );

    // A write through the CLI is read back on the learner, linearizably.
    assert!(shop.run(&["estoque", "set", "2", "91"]).status.success());
    let body = http_get(&url, "/api/produtos/2?consistency=linearizable").unwrap();
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["estoque"], 91, "{body}");

    // Killing the learner leaves the voters leading and writing.
    assert!(shop.run(&["node", "kill", "4"]).status.success());
    assert!(shop.run(&["estoque", "set", "2", "92"]).status.success());
    let text = stdout(&shop.run(&["status"]));
    assert!(
        text.lines()
            .any(|l| l.starts_with('4') && l.contains("down")),
        "{text}"
    );
    assert!(shop.interrupt().success());
}
