//! `airbyte-embedded-operator control-plane`: a throw-away real Kubernetes API server for your own
//! manifests and CI (etcd, kube-apiserver, kube-controller-manager, and with `--with-node`
//! kube-scheduler and a kubelet node that runs pods), until interrupted.

use std::io::Write;
use std::path::PathBuf;

use local_control_plane::{ControlPlane, ControlPlaneOptions};

#[derive(Debug, clap::Args)]
pub struct ControlPlaneArgs {
    /// Folder for the data, certificates, logs, audit log and `kubeconfig`.
    #[arg(long, default_value = ".control-plane")]
    pub state_dir: PathBuf,
    /// Also run kube-scheduler and a node (kubelet, containerd, a bridge pod network) so
    /// Deployments run as pods. Needs root, containerd, runc, the CNI plugins, buildah and
    /// iptables; stopping undoes every change it made to the machine.
    #[arg(long)]
    pub with_node: bool,
}

pub async fn run(args: ControlPlaneArgs) -> super::Outcome {
    let mut options = ControlPlaneOptions::new(&args.state_dir);
    options.with_node = args.with_node;
    let plane = ControlPlane::start(options)
        .await
        .map_err(|e| e.to_string())?;
    // Written with errors ignored: whoever reads stdout may stop (`| head -1`), and the control
    // plane must keep running until it is stopped, not die on a closed pipe.
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "control plane ready: export KUBECONFIG={}",
        plane.kubeconfig_path().display()
    );
    let _ = writeln!(
        out,
        "  apiserver {}  audit log {}  (Ctrl-C stops it)",
        plane.server(),
        plane.audit_log().path().display()
    );
    if let Some(node) = plane.node() {
        let _ = writeln!(
            out,
            "  node {} ready (logs in {}); load images with `ctr --address {} -n k8s.io images import`",
            local_control_plane::certs::NODE_NAME,
            node.dir().display(),
            node.dir().join("containerd.sock").display()
        );
    }
    let _ = out.flush();
    embedded_operator::shutdown::signal().await;
    drop(plane);
    Ok(())
}
