//! Declares the `tokio_unstable` cfg, which `.cargo/config.toml` sets for simulation builds
//! and the determinism test checks for.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(tokio_unstable)");
}
