//! The `orders` binary's settings: a flag beats its `CONFEITARIA_*` variable, which beats the
//! cluster file, which beats the built-in default; a bad cluster file stops it with a message.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use confeitaria_service::testing::{cluster_toml, run_to_exit, ChildGuard};
use confeitaria_types::auth::{self, TokenRole};
use http::{Method, StatusCode};

use crate::harness::*;

fn write_cluster_file(dir: &Path, orders_port: u16) {
    let cluster = "jwt_secret = \"jwt-do-arquivo\"\ndata_dir = \"dados\"";
    let orders = format!("[orders]\naddr = \"127.0.0.1:{orders_port}\"\n");
    let text = cluster_toml(cluster, &["127.0.0.1:1"], &orders);
    std::fs::write(dir.join("cluster.toml"), text).unwrap();
}

/// The binary in `dir` with an empty environment.
fn orders_binary(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orders"));
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Spawns `cmd` and waits until `/health` answers on `port`.
async fn serving_on(mut cmd: Command, port: u16) -> (ChildGuard, OrdersApi) {
    let child = ChildGuard(cmd.spawn().unwrap());
    let api = OrdersApi {
        url: format!("http://127.0.0.1:{port}"),
    };
    let up = eventually(Duration::from_secs(20), || {
        let api = api.clone();
        async move { api.healthy().await }
    })
    .await;
    assert!(up, "orders did not answer on port {port}");
    (child, api)
}

/// Status of an admin read of an unknown order with a token signed by `secret`: 404 if the
/// service holds that secret, 401 if not.
async fn admin_read(api: &OrdersApi, secret: &str) -> StatusCode {
    let t = auth::sign(
        secret.as_bytes(),
        TokenRole::Admin,
        "t",
        auth::now_secs(),
        60,
    )
    .unwrap();
    let url = format!("{}/api/pedidos/{}", api.url, "0".repeat(32));
    let bearer = format!("Bearer {t}");
    let (s, _, _) = http(Method::GET, &url, &[("authorization", &bearer)], None)
        .await
        .unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_beat_variables_which_beat_the_cluster_file_which_beats_defaults() {
    let dir = temp();
    let (in_file, by_variable, by_flag) = (free_port(), free_port(), free_port());
    write_cluster_file(dir.path(), in_file);

    // The working directory's cluster.toml, unnamed, over the defaults (5003, the dev secret,
    // data/orders).
    let (child, api) = serving_on(orders_binary(dir.path()), in_file).await;
    assert_eq!(
        admin_read(&api, "jwt-do-arquivo").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin_read(&api, orders::config::DEV_JWT_SECRET).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(dir.path().join("dados/orders").is_dir());
    assert!(!dir.path().join("data").exists());
    drop(child);

    // Variables over the file.
    let mut cmd = orders_binary(dir.path());
    cmd.env(
        "CONFEITARIA_ORDERS_ADDR",
        format!("127.0.0.1:{by_variable}"),
    )
    .env("CONFEITARIA_JWT_SECRET", "jwt-da-variavel");
    let (child, api) = serving_on(cmd, by_variable).await;
    assert_eq!(
        admin_read(&api, "jwt-da-variavel").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin_read(&api, "jwt-do-arquivo").await,
        StatusCode::UNAUTHORIZED
    );
    drop(child);

    // Flags over variables.
    let mut cmd = orders_binary(dir.path());
    cmd.env(
        "CONFEITARIA_ORDERS_ADDR",
        format!("127.0.0.1:{by_variable}"),
    )
    .env("CONFEITARIA_JWT_SECRET", "jwt-da-variavel")
    .args(["--addr", &format!("127.0.0.1:{by_flag}")])
    .args(["--jwt-secret", "jwt-da-flag"]);
    let (_child, api) = serving_on(cmd, by_flag).await;
    assert_eq!(admin_read(&api, "jwt-da-flag").await, StatusCode::NOT_FOUND);
    assert_eq!(
        admin_read(&api, "jwt-da-variavel").await,
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn a_bad_cluster_file_stops_the_binary_with_a_message_naming_it() {
    let dir = temp();
    std::fs::write(dir.path().join("cluster.toml"), "[[nodes]]\nid = \"um\"\n").unwrap();
    let (code, out) = run_to_exit(&mut orders_binary(dir.path()), Duration::from_secs(20));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("cluster.toml: invalid cluster file"), "{out}");
    assert!(
        !dir.path().join("data").exists(),
        "it opened a store anyway"
    );
}
