//! The image recipe as text (the image itself is built by `scripts/build-image.sh` and run as a pod
//! by the in-cluster end-to-end test): no base image to pull, a non-root user, exec-form
//! entrypoint, nothing run at build time, and the script builds only what `run` needs.

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn the_image_starts_from_nothing_runs_nothing_and_runs_as_non_root() {
    let text = read("Dockerfile");
    let stages: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(stages, ["FROM scratch"], "no base image to pull");
    assert!(
        text.lines().any(|l| l.trim() == "USER 65532:65532"),
        "non-root user"
    );
    assert!(
        text.contains("ENTRYPOINT [\"/usr/local/bin/airbyte-embedded-operator\"]"),
        "exec form, no shell"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("RUN ")),
        "nothing runs at build time (the image has no shell)"
    );
}

#[test]
fn the_build_script_uses_the_one_dockerfile_and_leaves_out_the_developer_tools() {
    let script = read("scripts/build-image.sh");
    assert!(
        script.contains("--no-default-features"),
        "only what `run` needs"
    );
    assert!(
        script.contains("cp Dockerfile") && script.contains("bud"),
        "the project's Dockerfile, built by buildah"
    );
    assert!(
        !script.contains("control-plane/") && !script.contains("tests/"),
        "the operator builds without the tests and the control plane's Go modules"
    );
}
