//! Finding (and if needed building) the control plane's binaries.
//!
//! The Go module files and `build.sh` of `control-plane/` are embedded in the operator binary, so a
//! single binary can build the control plane on a fresh machine: they are written to a temporary
//! folder and the same script the repository uses runs there, with the same cache key.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Environment variable naming a folder that already holds the three binaries.
pub const BIN_DIR_ENV: &str = "AIRBYTE_CONTROL_PLANE_BIN";

const FILES: [(&str, &str); 5] = [
    ("build.sh", include_str!("../../../control-plane/build.sh")),
    (
        "kubernetes/go.mod",
        include_str!("../../../control-plane/kubernetes/go.mod"),
    ),
    (
        "kubernetes/go.sum",
        include_str!("../../../control-plane/kubernetes/go.sum"),
    ),
    (
        "etcd/go.mod",
        include_str!("../../../control-plane/etcd/go.mod"),
    ),
    (
        "etcd/go.sum",
        include_str!("../../../control-plane/etcd/go.sum"),
    ),
];

pub const BINARIES: [&str; 3] = ["etcd", "kube-apiserver", "kube-controller-manager"];

#[derive(Debug, thiserror::Error)]
pub enum BinariesError {
    #[error(
        "the Go toolchain (go) is not installed: it is needed once to build the local control plane; install Go, or use an existing cluster with --kubeconfig"
    )]
    NoGo,
    #[error("{BIN_DIR_ENV}={0} does not hold etcd, kube-apiserver and kube-controller-manager")]
    Incomplete(String),
    #[error("building the control plane failed ({0}); see the output above")]
    Build(String),
    #[error("cannot prepare the control plane build: {0}")]
    Io(#[from] std::io::Error),
}

fn complete(dir: &Path) -> bool {
    BINARIES.iter().all(|name| dir.join(name).is_file())
}

/// The folder holding the binaries: `$AIRBYTE_CONTROL_PLANE_BIN`, else the build cache, building
/// first when the cache is empty (progress goes to stderr; a cold build takes minutes).
pub fn ensure() -> Result<PathBuf, BinariesError> {
    if let Ok(dir) = std::env::var(BIN_DIR_ENV) {
        let dir = PathBuf::from(dir);
        return if complete(&dir) {
            Ok(dir)
        } else {
            Err(BinariesError::Incomplete(dir.display().to_string()))
        };
    }
    if Command::new("go")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        return Err(BinariesError::NoGo);
    }
    let work = tempfile::tempdir()?;
    for (name, text) in FILES {
        let path = work.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    let mut child = Command::new("bash")
        .arg(work.path().join("build.sh"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut last = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            last = line?;
        }
    }
    let status = child.wait()?;
    if !status.success() {
        return Err(if status.code() == Some(127) {
            BinariesError::NoGo
        } else {
            BinariesError::Build(status.to_string())
        });
    }
    let dir = PathBuf::from(last.trim());
    if complete(&dir) {
        Ok(dir)
    } else {
        Err(BinariesError::Build(format!(
            "no binaries in {}",
            dir.display()
        )))
    }
}
