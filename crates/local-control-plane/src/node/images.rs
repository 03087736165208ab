//! Images without a registry: archives built on this machine with buildah (daemonless) and loaded
//! into the node's containerd with `ctr images import`.

use std::path::{Path, PathBuf};

use super::config::PAUSE_IMAGE;
use super::host::run;
use crate::ControlPlaneError;

fn error(what: impl std::fmt::Display) -> ControlPlaneError {
    ControlPlaneError::Node(what.to_string())
}

/// Runs buildah with its own storage under `root` (vfs: no overlay mounts needed).
fn buildah(root: &Path, args: &[&str]) -> Result<String, ControlPlaneError> {
    let root_arg = root.join("storage").display().to_string();
    let runroot = root.join("run").display().to_string();
    let mut all = vec![
        "--root",
        root_arg.as_str(),
        "--runroot",
        runroot.as_str(),
        "--storage-driver",
        "vfs",
    ];
    all.extend_from_slice(args);
    run("buildah", &all)
        .map(|out| out.trim().to_string())
        .map_err(error)
}

/// The sandbox image's archive beside the binaries, built once from the static `pause` binary.
pub fn pause_archive(bin: &Path) -> Result<PathBuf, ControlPlaneError> {
    let archive = bin.join("pause-image.tar");
    if archive.is_file() {
        return Ok(archive);
    }
    let work = tempfile::tempdir_in(bin).map_err(error)?;
    let container = buildah(work.path(), &["from", "scratch"])?;
    let pause = bin.join("pause").display().to_string();
    buildah(work.path(), &["copy", &container, &pause, "/pause"])?;
    buildah(
        work.path(),
        &[
            "config",
            "--entrypoint",
            "[\"/pause\"]",
            "--user",
            "65535:65535",
            &container,
        ],
    )?;
    buildah(work.path(), &["commit", "--rm", &container, PAUSE_IMAGE])?;
    let staged = work.path().join("pause-image.tar");
    let target = format!("docker-archive:{}:{PAUSE_IMAGE}", staged.display());
    buildah(work.path(), &["push", PAUSE_IMAGE, &target])?;
    std::fs::rename(&staged, &archive).map_err(error)?;
    Ok(archive)
}

/// Loads an archive into the node's containerd (the CRI namespace, native snapshotter); returns
/// the names of the images it held (`docker.io/library/NAME:TAG`).
pub fn import(socket: &Path, archive: &Path) -> Result<Vec<String>, ControlPlaneError> {
    let socket = socket.display().to_string();
    let archive = archive.display().to_string();
    run(
        "ctr",
        &[
            "--address",
            &socket,
            "--namespace",
            "k8s.io",
            "images",
            "import",
            "--snapshotter",
            "native",
            &archive,
        ],
    )
    .map(|out| imported_names(&out))
    .map_err(error)
}

/// The image names in `ctr images import`'s output (`unpacking NAME (sha256:...)...done`).
fn imported_names(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|line| line.trim().strip_prefix("unpacking "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Gives `source` the name `target` too (replacing an older image of that name).
pub fn tag(socket: &Path, source: &str, target: &str) -> Result<(), ControlPlaneError> {
    let socket = socket.display().to_string();
    run(
        "ctr",
        &[
            "--address",
            &socket,
            "--namespace",
            "k8s.io",
            "images",
            "tag",
            "--force",
            source,
            target,
        ],
    )
    .map(drop)
    .map_err(error)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_imported_names_are_read_from_ctrs_output() {
        let output = "unpacking docker.io/library/airbyte-embedded-operator:0.1.0 (sha256:fc51601b)...done\n";
        assert_eq!(
            super::imported_names(output),
            ["docker.io/library/airbyte-embedded-operator:0.1.0"]
        );
        assert!(super::imported_names("").is_empty());
    }
}
