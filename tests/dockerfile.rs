//! The image recipe (no container engine here to build it: checked as text): multi-stage, a
//! minimal runtime base without a shell, a non-root user, exec-form entrypoint.

#[test]
fn the_dockerfile_builds_in_stages_into_a_shell_less_non_root_image() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let stages: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert!(stages.len() >= 2, "multi-stage: {stages:?}");
    assert!(
        stages[0].contains("rust:1.95"),
        "built with the project's Rust: {}",
        stages[0]
    );
    let runtime = stages.last().unwrap();
    assert!(
        runtime.contains("distroless") && runtime.contains("nonroot"),
        "minimal runtime image: {runtime}"
    );
    assert!(text.contains("cargo build --release --locked --no-default-features"));
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("COPY tests") || l.contains("control-plane")),
        "the operator builds without the tests and the control plane's Go modules"
    );
    assert!(
        text.lines().any(|l| l.trim() == "USER 65532:65532"),
        "non-root user"
    );
    assert!(
        text.contains("ENTRYPOINT [\"/usr/local/bin/airbyte-embedded-operator\"]"),
        "exec form, no shell"
    );
    assert!(
        !text
            .lines()
            .skip_while(|l| !l.starts_with(runtime))
            .any(|l| l.starts_with("RUN ")),
        "nothing runs in the runtime stage (it has no shell)"
    );
}
