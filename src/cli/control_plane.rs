//! `airbyte-embedded-operator control-plane`: a throw-away real Kubernetes API server for your own
//! manifests and CI (etcd, kube-apiserver, kube-controller-manager), until interrupted.

use std::path::PathBuf;

use local_control_plane::{ControlPlane, ControlPlaneOptions};

#[derive(Debug, clap::Args)]
pub struct ControlPlaneArgs {
    /// Folder for the data, certificates, logs, audit log and `kubeconfig`.
    #[arg(long, default_value = ".control-plane")]
    pub state_dir: PathBuf,
}

pub async fn run(args: ControlPlaneArgs) -> super::Outcome {
    let plane = ControlPlane::start(ControlPlaneOptions::new(&args.state_dir))
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "control plane ready: export KUBECONFIG={}",
        plane.kubeconfig_path().display()
    );
    println!(
        "  apiserver {}  audit log {}  (Ctrl-C stops it)",
        plane.server(),
        plane.audit_log().path().display()
    );
    embedded_operator::shutdown::signal().await;
    drop(plane);
    Ok(())
}
