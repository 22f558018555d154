//! `confeitaria demo --yes` against a whole shop (three voters, a learner, cart, orders,
//! gateway, and Redis where `redis-server` is installed): every scenario prints a verdict
//! line, every verdict passes, and the command exits 0. Then a broken condition — an admin
//! token the shop refuses, so the write to a follower is not accepted — turns the verdict
//! into a failure and the exit status non-zero: the verdicts are measured, not printed.

use crate::harness::{stdout, Shop};

const SERVICES: &str = "\n[cart]\naddr = \"127.0.0.1:0\"\nredis_url = \"\"\n\n[orders]\naddr = \
                        \"127.0.0.1:0\"\n\n[gateway]\naddr = \"127.0.0.1:0\"\n";

const SCENARIOS: [&str; 7] = [
    "transparencia",
    "failover",
    "consistencia",
    "concorrencia",
    "recuperacao",
    "degradacao",
    "escalabilidade",
];

#[test]
fn demo_yes_passes_every_scenario_and_fails_when_a_condition_breaks() {
    let shop = Shop::start_full(SERVICES, &[], &["--learners", "1"]);
    let started = std::time::Instant::now();
    let out = shop.run(&["demo", "--yes"]);
    let text = stdout(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{err}");
    for name in SCENARIOS {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("VEREDITO [{name}] ")))
            .unwrap_or_else(|| panic!("no verdict for {name}:\n{text}"));
        assert!(line.contains(" OK — "), "{line}\n{text}");
    }
    assert!(!text.contains('✘'), "{text}");
    // The figures the verdicts rest on are printed.
    for figure in [
        "0 erros vistos pelos compradores",
        "10 pedidos confirmados (esperado: exatamente 10)",
        "50 rejeitados com insufficient_stock",
        "a leitura linearizável recusou (503 + Retry-After)",
        "o learner respondeu",
    ] {
        assert!(text.contains(figure), "{figure}:\n{text}");
    }
    if redis_installed() {
        assert!(text.contains("HTTP 503 store_unavailable"), "{text}");
    }
    eprintln!("demo --yes took {:.1} s", started.elapsed().as_secs_f64());

    // A token the shop refuses: the forwarded write fails, so must the verdict.
    let out = shop.run(&[
        "--token",
        "not-a-jwt",
        "demo",
        "--yes",
        "--lang",
        "en",
        "--only",
        "transparencia",
    ]);
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("VERDICT [transparencia] FAIL — "),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("✘ the write to follower"), "{text}");
}

fn redis_installed() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("redis-server").is_file()))
}
