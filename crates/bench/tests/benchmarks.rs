//! The README's benchmark commands, run small so they cannot rot: the same binary, the same code
//! paths (control planes, simulator, floor, operator, audit counts), a handful of tenants.
//! The figures themselves are measured by hand at 100 to 10,000 tenants (see the README).

use std::process::Command;

fn bench(args: &[&str]) -> Option<String> {
    if std::env::var_os("E2E_KUBECONFIG").is_some() {
        eprintln!("skipped: the benchmarks start their own local control plane");
        return None;
    }
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(args)
        .output()
        .expect("bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "bench {args:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(stdout)
}

/// The value column of the table row whose label starts with `label`.
fn row<'a>(table: &'a str, label: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(&format!("| {label}")))
        .and_then(|l| l.split('|').nth(2))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no row {label:?} in\n{table}"))
}

#[test]
fn operator_benchmark_runs_and_counts_the_minimum_calls() {
    let Some(table) = bench(&[
        "operator",
        "--objects",
        "4",
        "--concurrency",
        "2",
        "--steady-seconds",
        "2",
    ]) else {
        return;
    };
    let ratio: f64 = row(&table, "operator / floor").parse().unwrap();
    assert!(ratio > 0.0, "{table}");
    let calls = row(&table, "Airbyte calls per tenant");
    for minimum in [
        "scoped_token_create 1.00",
        "sources_list 1.00",
        "sources_create 1.00",
    ] {
        assert!(calls.contains(minimum), "{minimum} not in {calls}");
    }
    // At most 3 writes for each of the 4 tenants' 8 objects, plus the shared template's own 3
    // (finalizer, status, Event) spread over them: (8 * 3 + 3) / 8 = 3.375, printed as 3.38.
    let writes: f64 = row(&table, "Kubernetes writes per object to reach Ready")
        .parse()
        .unwrap();
    assert!((3.0..=3.38).contains(&writes), "{table}");
    assert!(
        row(&table, "steady state: Airbyte reads").starts_with("0 "),
        "{table}"
    );
    // After a restart only scheduled refreshes may write; 2 s rarely hold one, so not asserted.
    row(&table, "after a restart: writes");
}

#[test]
fn refresh_benchmark_runs_and_no_token_expires() {
    let Some(table) = bench(&[
        "refresh",
        "--objects",
        "4",
        "--token-ttl-seconds",
        "10",
        "--lifetimes",
        "1",
    ]) else {
        return;
    };
    assert_eq!(row(&table, "requests refused with 401"), "0", "{table}");
    let mints = row(&table, "mints observed");
    assert!(!mints.starts_with("0 "), "no refresh observed: {table}");
}
