//! The node's configuration files, as pure functions of its layout: containerd's, the kubelet's
//! and the CNI network's. Every path the node writes lives in its own folder or on a tmpfs of its
//! private mount namespace, so stopping it leaves nothing on the host.

use std::path::{Path, PathBuf};

use serde_json::json;

/// A node's pod network: a bridge of its own (`aeo<index>`), the subnet `10.88.<index>.0/24`, and
/// its gateway `10.88.<index>.1` on the host side, which is also the node's address (the kubelet
/// refuses a loopback one). Each node takes a free index, so several can run on one machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    pub index: u8,
}

impl Network {
    pub fn bridge(self) -> String {
        format!("aeo{}", self.index)
    }
    pub fn subnet(self) -> String {
        format!("10.88.{}.0/24", self.index)
    }
    pub fn gateway(self) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::new(10, 88, self.index, 1)
    }
    pub fn prefix_len(self) -> u8 {
        24
    }
}
/// The sandbox image containerd runs for every pod (built locally from the pinned module's
/// `pause.c`: no registry is needed).
pub const PAUSE_IMAGE: &str = "localhost/aeo-pause:v1.35.4";

/// Where the node keeps its files.
#[derive(Clone, Debug)]
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn containerd_config(&self) -> PathBuf {
        self.dir.join("containerd.toml")
    }
    pub fn containerd_socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }
    pub fn cni_config_dir(&self) -> PathBuf {
        self.dir.join("cni")
    }
    pub fn kubelet_root(&self) -> PathBuf {
        self.dir.join("kubelet")
    }
    pub fn kubelet_config(&self) -> PathBuf {
        self.dir.join("kubelet-config.yaml")
    }
    pub fn kubelet_kubeconfig(&self) -> PathBuf {
        self.dir.join("kubelet.kubeconfig")
    }
    pub fn pod_logs(&self) -> PathBuf {
        self.dir.join("pod-logs")
    }
}

/// containerd (config version 2, containerd 1.6/1.7): its root and state in the node's folder, the
/// native snapshotter (works on any file system, overlay included), cgroupfs, and the two settings
/// an unprivileged-looking root needs (no OOM score lowering, no AppArmor).
pub fn containerd(layout: &Layout, cni_bin_dir: &Path) -> String {
    let q = |path: &Path| format!("{:?}", path.display().to_string());
    format!(
        r#"version = 2
root = {root}
state = {state}

[grpc]
  address = {socket}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = {cni_bin}
    conf_dir = {cni_conf}
"#,
        root = q(&layout.dir.join("containerd-root")),
        state = q(&layout.dir.join("containerd-state")),
        socket = q(&layout.containerd_socket()),
        cni_bin = q(cni_bin_dir),
        cni_conf = q(&layout.cni_config_dir()),
    )
}

/// The CNI network list: a bridge with the node's gateway (no masquerading: pods only talk to this
/// machine), host-local addresses kept in the node's folder, and loopback.
pub fn cni_network(layout: &Layout, network: Network) -> String {
    let config = json!({
        "cniVersion": "0.4.0",
        "name": "aeo-pods",
        "plugins": [
            {
                "type": "bridge",
                "bridge": network.bridge(),
                "isGateway": true,
                "ipMasq": false,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": network.subnet(), "gateway": network.gateway().to_string()}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": layout.dir.join("cni-ipam").display().to_string(),
                }
            },
            {"type": "loopback"}
        ]
    });
    serde_json::to_string_pretty(&config).expect("a JSON value serializes")
}

/// What the kubelet needs beyond its layout.
#[derive(Clone, Debug)]
pub struct KubeletSettings<'a> {
    pub client_ca: &'a Path,
    pub network: Network,
    pub port: u16,
    pub healthz_port: u16,
    /// The cgroup (in every v1 hierarchy, or the v2 tree) all pods live under.
    pub cgroup_root: &'a str,
    pub cgroup_v1: bool,
}

/// KubeletConfiguration: authenticated and authorized by the apiserver (webhook), cgroupfs under
/// the node's own cgroup, no iptables chains of its own, eviction and image garbage collection
/// thresholds that a shared developer disk never reaches, pod logs in the node's folder.
pub fn kubelet(layout: &Layout, settings: &KubeletSettings<'_>) -> String {
    let p = |path: &Path| path.display().to_string();
    let config = json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        // The node's address is the pod network's gateway: the kubelet refuses a loopback node
        // IP, and the apiserver (on this machine) reaches it there for logs.
        "address": settings.network.gateway().to_string(),
        "port": settings.port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": settings.healthz_port,
        "authentication": {
            "anonymous": {"enabled": false},
            "webhook": {"enabled": true},
            "x509": {"clientCAFile": p(settings.client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": settings.cgroup_root,
        "failCgroupV1": !settings.cgroup_v1,
        "failSwapOn": false,
        "containerRuntimeEndpoint": format!("unix://{}", p(&layout.containerd_socket())),
        "makeIPTablesUtilChains": false,
        "protectKernelDefaults": false,
        "rotateCertificates": false,
        "serializeImagePulls": false,
        "podLogsDirectory": p(&layout.pod_logs()),
        "resolvConf": "",
        "clusterDomain": "cluster.local",
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "1Mi",
            "nodefs.available": "1Mi",
            "nodefs.inodesFree": "1",
            "imagefs.available": "1Mi",
        },
        "localStorageCapacityIsolation": false,
        "syncFrequency": "10s",
        "nodeStatusReportFrequency": "10s",
    });
    serde_yaml::to_string(&config).expect("a JSON value serializes as YAML")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            dir: PathBuf::from("/state/node"),
        }
    }

    #[test]
    fn containerd_keeps_everything_in_the_node_folder_and_needs_no_registry() {
        let text = containerd(&layout(), Path::new("/usr/lib/cni"));
        for needle in [
            "root = \"/state/node/containerd-root\"",
            "state = \"/state/node/containerd-state\"",
            "address = \"/state/node/containerd.sock\"",
            "conf_dir = \"/state/node/cni\"",
            "bin_dir = \"/usr/lib/cni\"",
            "restrict_oom_score_adj = true",
            "SystemdCgroup = false",
            "sandbox_image = \"localhost/aeo-pause:v1.35.4\"",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
    }

    #[test]
    fn the_pod_network_never_masquerades_and_keeps_its_leases_in_the_node_folder() {
        let network = Network { index: 3 };
        let value: serde_json::Value =
            serde_json::from_str(&cni_network(&layout(), network)).unwrap();
        let bridge = &value["plugins"][0];
        assert_eq!(bridge["bridge"], "aeo3");
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], "10.88.3.0/24");
        assert_eq!(bridge["ipMasq"], false);
        assert_eq!(bridge["ipam"]["dataDir"], "/state/node/cni-ipam");
        assert_eq!(bridge["ipam"]["ranges"][0][0]["gateway"], "10.88.3.1");
        assert_eq!(value["plugins"][1]["type"], "loopback");
    }

    #[test]
    fn the_kubelet_is_authenticated_and_tolerates_the_hosts_cgroup_version() {
        for (v1, fail_v1) in [(true, false), (false, true)] {
            let settings = KubeletSettings {
                client_ca: Path::new("/pki/ca.crt"),
                network: Network { index: 0 },
                port: 10250,
                healthz_port: 10248,
                cgroup_root: "/aeo-node-1",
                cgroup_v1: v1,
            };
            let value: serde_json::Value =
                serde_yaml::from_str(&kubelet(&layout(), &settings)).unwrap();
            assert_eq!(value["failCgroupV1"], fail_v1);
            assert_eq!(value["authentication"]["anonymous"]["enabled"], false);
            assert_eq!(value["authorization"]["mode"], "Webhook");
            assert_eq!(value["makeIPTablesUtilChains"], false);
            assert_eq!(value["cgroupRoot"], "/aeo-node-1");
            assert_eq!(value["address"], "10.88.0.1");
            assert_eq!(
                value["containerRuntimeEndpoint"],
                "unix:///state/node/containerd.sock"
            );
        }
    }
}
