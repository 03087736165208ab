//! The binary refuses to start without what it needs, with one line naming it.

use std::process::Command;

fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_airbyte-embedded-operator"));
    command.args(args);
    for key in [
        "AIRBYTE_CLIENT_ID",
        "AIRBYTE_CLIENT_SECRET",
        "AIRBYTE_ACCESS_TOKEN",
        "AIRBYTE_ORGANIZATION_ID",
        "AIRBYTE_API_URL",
    ] {
        command.env_remove(key);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn run_refuses_to_start_naming_what_is_missing() {
    let org = "7b0e7c44-9c1e-4c55-a1a1-0f7b2d1c3a11";
    let cases: Vec<(Vec<&str>, Vec<(&str, &str)>, &str)> = vec![
        (
            vec!["run"],
            vec![("AIRBYTE_CLIENT_ID", "c"), ("AIRBYTE_CLIENT_SECRET", "s")],
            "Airbyte credentials are set but --organization-id (AIRBYTE_ORGANIZATION_ID) is missing",
        ),
        (
            vec![],
            vec![("AIRBYTE_CLIENT_ID", "c"), ("AIRBYTE_CLIENT_SECRET", "s")],
            "--organization-id (AIRBYTE_ORGANIZATION_ID) is missing",
        ),
        (
            vec!["run", "--organization-id", org],
            vec![],
            "--organization-id is set but the credentials are missing: set AIRBYTE_CLIENT_ID and AIRBYTE_CLIENT_SECRET, or AIRBYTE_ACCESS_TOKEN",
        ),
        (
            vec!["run", "--organization-id", org],
            vec![("AIRBYTE_CLIENT_ID", "c")],
            "AIRBYTE_CLIENT_ID is set but AIRBYTE_CLIENT_SECRET is missing",
        ),
        (
            vec!["run", "--organization-id", "acme"],
            vec![("AIRBYTE_ACCESS_TOKEN", "t")],
            "--organization-id \"acme\" is not a UUID",
        ),
        (
            vec!["run"],
            vec![
                ("AIRBYTE_ORGANIZATION_ID", org),
                ("AIRBYTE_ACCESS_TOKEN", "t"),
                ("AIRBYTE_API_URL", "http://api.airbyte.ai"),
                ("KUBECONFIG", "/nonexistent"),
            ],
            "refusing plain http",
        ),
        (
            // Without flags the operator serves organizations declared as resources: it
            // starts, and stops at the cluster it cannot reach.
            vec!["run"],
            vec![("KUBECONFIG", "/nonexistent")],
            "no Kubernetes configuration",
        ),
    ];
    for (args, env, expected) in cases {
        let (ok, stderr) = run(&args, &env);
        assert!(!ok, "{args:?} should fail");
        let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(lines.len(), 1, "one error line for {args:?}: {stderr}");
        assert!(lines[0].contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn secrets_passed_in_the_environment_are_not_echoed() {
    let (_, stderr) = run(
        &["run", "--organization-id", "not-a-uuid"],
        &[
            ("AIRBYTE_CLIENT_SECRET", "hunter2-secret"),
            ("AIRBYTE_CLIENT_ID", "c"),
        ],
    );
    assert!(!stderr.contains("hunter2-secret"), "{stderr}");
}
