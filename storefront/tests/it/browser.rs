//! A real browser: headless Chromium (Debian's `chromium`), driven by `tests/browser.py`
//! over the DevTools protocol, opens the vitrine, adds to the cart, checks out, sees the
//! order `confirmado`, watches it turn `pago` without a reload, and works the admin area.
//! Screenshots go to `$STOREFRONT_SCREENSHOTS` when set (docs/screenshots/ is made so), to a
//! temporary directory otherwise.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::Duration;

use confeitaria_types::auth::TokenRole;
use tokio::process::Command;

use crate::harness::{token, Shop};

async fn run_script(args: &[&str]) -> (bool, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser.py");
    let child = Command::new("python3")
        .arg(script)
        .args(args)
        .env("ADMIN_TOKEN", token(TokenRole::Admin))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let out = tokio::time::timeout(Duration::from_secs(240), child.wait_with_output())
        .await
        .expect("the browser script finishes within 240 s")
        .expect("the browser script's output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_buys_a_cake_and_sees_the_order_confirmed() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    assert!(
        std::process::Command::new(&chromium)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        "headless Chromium is needed: apt-get install -y chromium (scripts/test.sh does)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let out: PathBuf = std::env::var("STOREFRONT_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_path_buf());
    let out_s = out.to_string_lossy().into_owned();

    let shop = Shop::start(1).await;
    let (ok, log) = run_script(&["--base", &shop.url, "--api", &shop.api, "--out", &out_s]).await;
    assert!(ok, "browser run failed:\n{log}");
    assert!(log.contains("confirmado"), "{log}");

    // The cart's store down: the page a shopper gets, in a browser too.
    shop.store.down.store(true, Ordering::SeqCst);
    let (ok, log) = run_script(&[
        "--base",
        &shop.url,
        "--out",
        &out_s,
        "--shot",
        "/carrinho",
        "carrinho-indisponivel",
    ])
    .await;
    assert!(ok, "{log}");
    for name in [
        "vitrine",
        "carrinho",
        "pedido",
        "pedido-ao-vivo",
        "admin-pedido",
        "carrinho-indisponivel",
    ] {
        let len = std::fs::metadata(out.join(format!("{name}.png")))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 1000, "{name}.png is missing or empty");
    }
}
