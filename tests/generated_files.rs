//! Generated artefacts stay honest: `crds/` (and the Helm chart's copy, once it exists) equal what
//! the Rust types generate. Regenerate with `airbyte-embedded-operator crds --output-dir crds`.

use std::path::Path;

use embedded_crds::schema;

fn check_folder(folder: &Path) {
    let mut expected: Vec<String> = Vec::new();
    for crd in schema::crds() {
        let name = schema::file_name(&crd);
        let path = folder.join(&name);
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} is missing", path.display()));
        assert!(
            on_disk == schema::to_yaml(&crd),
            "{} differs from the Rust types: run `cargo run -- crds --output-dir {}`",
            path.display(),
            folder.display()
        );
        expected.push(name);
    }
    let mut present: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    present.sort();
    expected.sort();
    assert_eq!(
        present,
        expected,
        "{} holds exactly one file per kind",
        folder.display()
    );
}

#[test]
fn crds_folder_matches_the_rust_types() {
    check_folder(&Path::new(env!("CARGO_MANIFEST_DIR")).join("crds"));
}

#[test]
fn the_helm_chart_crds_match_the_rust_types() {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/airbyte-embedded-operator/crds");
    assert!(
        chart.is_dir(),
        "the chart ships its CRDs in {}",
        chart.display()
    );
    check_folder(&chart);
}

#[test]
fn crds_subcommand_prints_the_same_yaml() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_airbyte-embedded-operator"))
        .arg("crds")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        schema::all_yaml()
    );
}
