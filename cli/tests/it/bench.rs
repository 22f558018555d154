//! `bench` against a running `up`: every workload and client count measured, written as CSV.

use crate::harness::Shop;

#[test]
fn bench_measures_a_running_cluster_and_writes_csv() {
    let shop = Shop::start();
    let csv = shop.dir.path().join("bench.csv");
    let out = shop.run(&[
        "bench",
        "--seconds",
        "0.3",
        "--clients",
        "1,4",
        "--kills",
        "1",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("target,workload,clients,ops_per_sec,p50_ms,p99_ms,ok,errors")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    for workload in ["write", "read-linearizable", "read-local"] {
        for clients in ["1", "4"] {
            let row = rows
                .iter()
                .find(|r| r[0] == "confeitaria" && r[1] == workload && r[2] == clients)
                .unwrap_or_else(|| panic!("no {workload} row for {clients} clients:\n{text}"));
            let ok: u64 = row[6].parse().unwrap();
            assert!(ok > 0, "{workload} at {clients} did work: {row:?}");
            assert_eq!(row[7], "0", "{workload} at {clients} had errors: {row:?}");
        }
    }
    for id in 1..=3 {
        let rss = rows
            .iter()
            .find(|r| r[1] == format!("rss-node-{id}-MiB"))
            .unwrap();
        let mib: f64 = rss[3].parse().unwrap();
        assert!(mib > 1.0 && mib < 1024.0, "{rss:?}");
    }
    assert!(rows
        .iter()
        .any(|r| r[1] == "failover-to-write" && r[6] == "1"));
}
