//! `up` with a `[gateway]`: the gateway joins the table, passes the API through, and its
//! dashboard kills and starts a node through `up`'s control socket.

use std::time::Duration;

use crate::harness::{alive, http_get, stdout, wait_until, Shop};

/// One request over a fresh HTTP/1.0 connection: status and body, `None` when nothing
/// answers within two seconds.
fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let addr: std::net::SocketAddr = host.parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: 0\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    write!(s, "{head}\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text.split_once("\r\n\r\n")?.1.to_owned()))
}

#[test]
fn up_runs_the_gateway_whose_dashboard_kills_and_starts_a_node() {
    let shop = Shop::start_with(
        "\n[cart]\naddr = \"127.0.0.1:0\"\nredis_url = \"\"\n\n[orders]\naddr = \"127.0.0.1:0\"\n\
         \n[gateway]\naddr = \"127.0.0.1:0\"\n",
    );
    let services = shop.ready["services"].as_array().unwrap().clone();
    let names: Vec<&str> = services
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        // `up` adds its own Redis when redis-server is installed.
        .filter(|n| *n != "redis")
        .collect();
    assert_eq!(
        names,
        ["node-1", "node-2", "node-3", "cart", "orders", "gateway"]
    );
    let url = |name: &str| {
        let s = services.iter().find(|s| s["name"] == name).unwrap();
        s["url"].as_str().unwrap().to_owned()
    };
    let gw = url("gateway");
    let node1_pid = services[0]["pid"].as_u64().unwrap() as u32;

    let product = http_get(&gw, "/api/produtos/1").expect("the gateway answers");
    assert!(product.contains("\"id\":1"), "{product}");
    let page = http_get(&gw, "/painel").unwrap();
    assert!(page.contains("Painel do cluster"));

    let out = shop.run(&["token", "--role", "admin"]);
    let bearer = format!("Bearer {}", stdout(&out).trim());
    let auth = [("Authorization", bearer.as_str())];
    let refused = request(&gw, "POST", "/painel/nos/1/parar", &[]).unwrap();
    assert_eq!(refused.0, 401, "{refused:?}");
    let killed = request(&gw, "POST", "/painel/nos/1/parar", &auth).unwrap();
    assert_eq!(killed.0, 200, "{killed:?}");
    assert!(wait_until(Duration::from_secs(10), || !alive(node1_pid)));
    // Reads keep working through the gateway with node 1 gone.
    for id in 2..8 {
        let path = format!("/api/produtos/{id}");
        assert!(
            wait_until(Duration::from_secs(10), || http_get(&gw, &path)
                .is_some_and(|b| b.contains(&format!("\"id\":{id}")))),
            "{path}"
        );
    }
    let started = request(&gw, "POST", "/painel/nos/1/iniciar", &auth).unwrap();
    assert_eq!(started.0, 200, "{started:?}");
    let again = request(&gw, "POST", "/painel/nos/1/iniciar", &auth).unwrap();
    assert_eq!(again.0, 409, "already running: {again:?}");
}
