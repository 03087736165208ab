//! A real node for the local control plane (`--with-node`): the kubelet built from the pinned
//! modules, containerd with runc, and a bridge pod network, so Deployments run as pods.
//!
//! containerd and the kubelet share one private mount namespace whose folders that containerd,
//! the CNI plugins and the kubelet hard-code (`/run/containerd`, `/run/netns`, `/var/lib/cni`,
//! `/var/log/containers`, `/var/log/pods`) are tmpfs mounts of that namespace only: when the node
//! stops, its processes are killed and the namespace, its mounts and the pods' network namespaces
//! go with them. What cannot live in a namespace (kernel settings, the bridge, NAT rules, cgroups)
//! is recorded in [`host::HostChanges`] as it is changed and undone at the end.

pub mod config;
pub mod host;
pub mod images;
pub mod shared;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node as NodeObject;
use kube::{Api, Client};

use crate::certs::{KUBERNETES_SERVICE_IP, NODE_NAME, PkiFiles};
use crate::process::ManagedChild;
use crate::{ControlPlaneError, free_port, kubeconfig, wait_until};
use config::{KubeletSettings, Layout, Network};
use host::HostChanges;

/// Host programs the node needs (Debian: `apt-get install containerd runc
/// containernetworking-plugins buildah iptables`).
const HOST_PROGRAMS: [&str; 8] = [
    "containerd",
    "runc",
    "ctr",
    "buildah",
    "iptables",
    "ip",
    "unshare",
    "nsenter",
];
const CNI_PLUGINS: [&str; 3] = ["bridge", "host-local", "loopback"];
const CNI_BIN_DIRS: [&str; 2] = ["/usr/lib/cni", "/opt/cni/bin"];
/// Folders hard-coded by containerd, the CNI plugins and the kubelet: private tmpfs mounts.
const PRIVATE_MOUNTS: [&str; 5] = [
    "/run/containerd",
    "/run/netns",
    "/var/lib/cni",
    "/var/log/containers",
    "/var/log/pods",
];

/// What the node needs from the control plane.
pub struct NodeInputs<'a> {
    pub bin: &'a Path,
    pub dir: &'a Path,
    pub pki: &'a PkiFiles,
    pub server: &'a str,
    pub apiserver_port: u16,
    pub client: Client,
}

/// A running node. Dropping it stops it and undoes its changes to the machine.
pub struct Node {
    layout: Layout,
    network: Network,
    cgroup: String,
    containerd: Option<ManagedChild>,
    kubelet: Option<ManagedChild>,
    namespace: Option<PathBuf>,
    host: HostChanges,
}

/// A number for each node this process starts (their cgroups differ).
fn next_node() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn node_error(what: impl std::fmt::Display) -> ControlPlaneError {
    ControlPlaneError::Node(what.to_string())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// The CNI plugin folder, or what is missing.
fn preflight(bin: &Path) -> Result<PathBuf, ControlPlaneError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(node_error(
            "the node needs root (containerd, cgroups, the pod bridge)",
        ));
    }
    let missing: Vec<&str> = HOST_PROGRAMS.into_iter().filter(|p| !on_path(p)).collect();
    if !missing.is_empty() {
        return Err(node_error(format!(
            "missing host programs {missing:?}: on Debian, apt-get install containerd runc containernetworking-plugins buildah iptables"
        )));
    }
    for name in ["kubelet", "pause"] {
        if !bin.join(name).is_file() {
            return Err(node_error(format!(
                "{} has no {name}: rebuild with control-plane/build.sh (pause needs a C compiler with a static libc)",
                bin.display()
            )));
        }
    }
    CNI_BIN_DIRS
        .iter()
        .map(PathBuf::from)
        .find(|dir| CNI_PLUGINS.iter().all(|p| dir.join(p).is_file()))
        .ok_or_else(|| {
            node_error(format!(
                "no CNI plugins {CNI_PLUGINS:?} in {CNI_BIN_DIRS:?}: apt-get install containernetworking-plugins"
            ))
        })
}

impl Node {
    /// Starts containerd and the kubelet and waits until the node is Ready and schedulable.
    pub async fn start(
        inputs: NodeInputs<'_>,
        deadline: Instant,
    ) -> Result<Node, ControlPlaneError> {
        let cni_bin = preflight(inputs.bin)?;
        let layout = Layout {
            dir: inputs.dir.join("node"),
        };
        if layout.dir.exists() {
            std::fs::remove_dir_all(&layout.dir).map_err(node_error)?;
        }
        std::fs::create_dir_all(layout.cni_config_dir()).map_err(node_error)?;
        std::fs::create_dir_all(layout.pod_logs()).map_err(node_error)?;
        let socket_len = layout.containerd_socket().as_os_str().len();
        if socket_len > 100 {
            return Err(node_error(format!(
                "state folder path too long for containerd's socket ({socket_len} bytes, at most 100)"
            )));
        }
        let name = format!("{}-{}", std::process::id(), next_node());
        let mut node = Node {
            layout,
            network: Network { index: 0 },
            cgroup: format!("/aeo-node-{name}"),
            containerd: None,
            kubelet: None,
            namespace: None,
            host: HostChanges::capture(&name, &PRIVATE_MOUNTS).map_err(node_error)?,
        };
        node.prepare_host(inputs.apiserver_port)?;
        node.start_containerd(&cni_bin, deadline).await?;
        images::import(
            &node.containerd_socket(),
            &images::pause_archive(inputs.bin)?,
        )?;
        node.start_kubelet(&inputs)?;
        node.wait_ready(inputs.client, deadline).await?;
        Ok(node)
    }

    fn prepare_host(&mut self, apiserver_port: u16) -> Result<(), ControlPlaneError> {
        self.host.create_cgroup(&self.cgroup).map_err(node_error)?;
        self.network = self.host.create_bridge().map_err(node_error)?;
        // In-cluster clients dial the `kubernetes` Service; without kube-proxy this rule is its
        // only route, to the apiserver on loopback.
        self.host
            .forward_to_loopback(KUBERNETES_SERVICE_IP, 443, apiserver_port)
            .map_err(node_error)?;
        Ok(())
    }

    async fn start_containerd(
        &mut self,
        cni_bin: &Path,
        deadline: Instant,
    ) -> Result<(), ControlPlaneError> {
        let layout = &self.layout;
        std::fs::write(
            layout.containerd_config(),
            config::containerd(layout, cni_bin),
        )
        .map_err(node_error)?;
        std::fs::write(
            layout.cni_config_dir().join("10-aeo.conflist"),
            config::cni_network(layout, self.network),
        )
        .map_err(node_error)?;
        let mounts: String = PRIVATE_MOUNTS
            .iter()
            .map(|dir| format!("mount -t tmpfs -o mode=0755 aeo-node {dir} && "))
            .collect();
        let script = format!("{mounts}exec containerd --config \"$0\"");
        let args = vec![
            "--mount".into(),
            "--propagation".into(),
            "private".into(),
            "--".into(),
            "sh".into(),
            "-c".into(),
            script,
            layout.containerd_config().display().to_string(),
        ];
        let log = layout.dir.join("containerd.log");
        let child = ManagedChild::spawn("containerd", Path::new("unshare"), &args, &log)
            .map_err(node_error)?;
        let pid = child.pid();
        self.containerd = Some(child);
        let socket = self.containerd_socket();
        wait_until(deadline, "containerd", self.containerd.as_mut(), || {
            let ready = socket.exists()
                && host::run(
                    "ctr",
                    &["--address", &socket.display().to_string(), "version"],
                )
                .is_ok();
            async move { ready }
        })
        .await?;
        self.namespace = host::mount_namespace(pid);
        Ok(())
    }

    fn start_kubelet(&mut self, inputs: &NodeInputs<'_>) -> Result<(), ControlPlaneError> {
        let layout = &self.layout;
        let pki = inputs.pki;
        let settings = KubeletSettings {
            client_ca: &pki.ca_cert,
            network: self.network,
            port: free_port().map_err(node_error)?,
            healthz_port: free_port().map_err(node_error)?,
            cgroup_root: &self.cgroup,
            cgroup_v1: host::cgroup_v1(),
        };
        std::fs::write(layout.kubelet_config(), config::kubelet(layout, &settings))
            .map_err(node_error)?;
        kubeconfig::write(
            &layout.kubelet_kubeconfig(),
            inputs.server,
            &pki.ca_cert,
            kubeconfig::Credentials::Certificate {
                cert: &pki.kubelet_cert,
                key: &pki.kubelet_key,
            },
        )
        .map_err(node_error)?;
        let containerd = self
            .containerd
            .as_ref()
            .map(ManagedChild::pid)
            .unwrap_or_default();
        let args = vec![
            format!("--mount=/proc/{containerd}/ns/mnt"),
            "--".into(),
            inputs.bin.join("kubelet").display().to_string(),
            format!("--config={}", layout.kubelet_config().display()),
            format!("--kubeconfig={}", layout.kubelet_kubeconfig().display()),
            format!("--root-dir={}", layout.kubelet_root().display()),
            format!("--hostname-override={NODE_NAME}"),
            format!("--node-ip={}", self.network.gateway()),
            "--v=1".into(),
        ];
        let log = layout.dir.join("kubelet.log");
        self.kubelet = Some(
            ManagedChild::spawn("kubelet", Path::new("nsenter"), &args, &log)
                .map_err(node_error)?,
        );
        Ok(())
    }

    async fn wait_ready(
        &mut self,
        client: Client,
        deadline: Instant,
    ) -> Result<(), ControlPlaneError> {
        let nodes: Api<NodeObject> = Api::all(client);
        wait_until(deadline, "node (kubelet)", self.kubelet.as_mut(), || {
            let nodes = nodes.clone();
            async move {
                let Ok(Some(node)) = nodes.get_opt(NODE_NAME).await else {
                    return false;
                };
                schedulable(&node)
            }
        })
        .await
    }

    fn containerd_socket(&self) -> PathBuf {
        self.layout.containerd_socket()
    }

    /// Loads an image archive (docker-archive or OCI) into the node's containerd; returns the
    /// names of its images.
    pub fn import_image(&self, archive: &Path) -> Result<Vec<String>, ControlPlaneError> {
        images::import(&self.containerd_socket(), archive)
    }

    /// Gives an image in the node's containerd a second name.
    pub fn tag_image(&self, source: &str, target: &str) -> Result<(), ControlPlaneError> {
        images::tag(&self.containerd_socket(), source, target)
    }

    /// Makes a service listening on `127.0.0.1:port` of this machine reachable from pods at the
    /// returned address (the pod network's gateway), same port.
    pub fn expose_loopback_port(&mut self, port: u16) -> Result<Ipv4Addr, ControlPlaneError> {
        self.host
            .forward_to_loopback(self.network.gateway(), port, port)
            .map_err(node_error)?;
        Ok(self.network.gateway())
    }

    /// The node's pod network.
    pub fn network(&self) -> Network {
        self.network
    }

    /// The node's folder (logs of containerd and the kubelet).
    pub fn dir(&self) -> &Path {
        &self.layout.dir
    }

    /// Process ids of containerd and the kubelet.
    pub fn pids(&self) -> Vec<u32> {
        [&self.containerd, &self.kubelet]
            .into_iter()
            .flatten()
            .map(ManagedChild::pid)
            .collect()
    }

    /// Stops the kubelet, kills the pods and containerd's shims, stops containerd, and undoes the
    /// host changes. Returns what could not be undone.
    pub fn stop(&mut self) -> Vec<String> {
        if let Some(mut kubelet) = self.kubelet.take() {
            kubelet.stop(Duration::from_secs(10));
        }
        let mut failures = Vec::new();
        failures.extend(host::kill_cgroup_members(&self.cgroup, Duration::from_secs(10)).err());
        if let Some(mut containerd) = self.containerd.take() {
            if let Some(namespace) = self.namespace.take() {
                host::kill_namespace_members(&namespace, containerd.pid());
            }
            containerd.stop(Duration::from_secs(10));
        }
        failures.extend(self.host.undo());
        for failure in &failures {
            tracing::warn!(%failure, "node cleanup");
        }
        failures
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Ready, and no longer carrying the not-ready taint the node-lifecycle controller removes.
fn schedulable(node: &NodeObject) -> bool {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        });
    let tainted = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|taints| {
            taints
                .iter()
                .any(|t| t.key.starts_with("node.kubernetes.io/"))
        });
    ready && !tainted
}
