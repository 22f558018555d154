//! The `cart` binary's settings: a flag beats its `CONFEITARIA_*` variable, which beats the
//! cluster file, which beats the built-in default; a bad cluster file stops it with a message.

use std::path::Path;
use std::time::Duration;

use confeitaria_service::testing::{cluster_toml, free_port, run_to_exit};

use crate::harness::{cart_binary, CartProcess, RedisServer};

fn write_cluster_file(path: &Path, cart_addr: &str, redis_url: &str) {
    let cart = format!("[cart]\naddr = \"{cart_addr}\"\nredis_url = \"{redis_url}\"\n");
    let text = cluster_toml("jwt_secret = \"j\"", &["127.0.0.1:1"], &cart);
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn flags_beat_variables_which_beat_the_cluster_file_which_beats_defaults() {
    let redis = RedisServer::start();
    let (dir, elsewhere) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let file = dir.path().join("cluster.toml");
    let [in_file, by_variable, by_flag] = [0; 3].map(|_| format!("127.0.0.1:{}", free_port()));
    write_cluster_file(&file, &in_file, &redis.url());
    let file = file.to_str().unwrap();
    let named: &[(&str, &str)] = &[("CONFEITARIA_CLUSTER_FILE", file)];
    let variables: &[(&str, &str)] = &[
        ("CONFEITARIA_CART_ADDR", &by_variable),
        ("CONFEITARIA_REDIS_URL", ""),
    ];
    let flags: &[&str] = &["--addr", &by_flag, "--redis-url", &redis.url()];
    // (case, working directory, variables, flags, the address and store it must use)
    let cases = [
        (
            "cluster.toml found over the defaults",
            dir.path(),
            &[][..],
            &[][..],
            &in_file,
            "redis",
        ),
        (
            "cluster file named",
            elsewhere.path(),
            named,
            &[],
            &in_file,
            "redis",
        ),
        (
            "variables over the file",
            dir.path(),
            variables,
            &[],
            &by_variable,
            "memory",
        ),
        (
            "flags over variables",
            dir.path(),
            variables,
            flags,
            &by_flag,
            "redis",
        ),
    ];
    for (case, cwd, vars, args, addr, store) in cases {
        let mut cmd = cart_binary();
        cmd.current_dir(cwd).envs(vars.iter().copied()).args(args);
        let cart = CartProcess::spawn(cmd);
        assert_eq!(&cart.addr, addr, "{case}");
        let store = format!("store=\"{store}\"");
        assert!(cart.line.contains(&store), "{case}: {}", cart.line);
    }
}

#[test]
fn a_bad_cluster_file_stops_the_binary_with_a_message_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[cluster]\nsecret = 1\n").unwrap();
    let (code, out) = run_to_exit(
        cart_binary().arg("--cluster-file").arg(&bad),
        Duration::from_secs(20),
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("bad.toml") && out.contains("invalid cluster file"),
        "{out}"
    );

    // A well-formed file with a bad value, found in the working directory.
    write_cluster_file(&dir.path().join("cluster.toml"), "127.0.0.1:0", "http://x");
    let (code, out) = run_to_exit(
        cart_binary().current_dir(dir.path()),
        Duration::from_secs(20),
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("cluster.toml: redis_url"), "{out}");

    // A file named but absent.
    let (code, out) = run_to_exit(
        cart_binary().env("CONFEITARIA_CLUSTER_FILE", dir.path().join("absent.toml")),
        Duration::from_secs(20),
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("cannot read") && out.contains("absent.toml"),
        "{out}"
    );
}
