//! The cluster every end-to-end test in this binary shares: the local control plane, started once
//! (or the cluster of `E2E_KUBECONFIG`), stopped when the test binary exits. Tests that run pods
//! share a second one with a node ([`node_cluster`]), started only when such a test runs.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use local_control_plane::{AuditLog, ControlPlane, ControlPlaneOptions, kubeconfig};

pub struct Cluster {
    pub kubeconfig: PathBuf,
    /// The local control plane's audit log; `None` on an external cluster.
    pub audit: Option<AuditLog>,
    pub server: String,
    pub ca: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static PLANE: Mutex<Option<ControlPlane>> = Mutex::new(None);
static NODE_CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
static NODE_PLANE: Mutex<Option<ControlPlane>> = Mutex::new(None);

extern "C" fn stop_control_planes() {
    for slot in [&NODE_PLANE, &PLANE] {
        if let Ok(mut plane) = slot.lock()
            && let Some(mut plane) = plane.take()
        {
            plane.stop();
            if std::env::var_os("E2E_KEEP_STATE").is_none() {
                let _ = std::fs::remove_dir_all(plane.state_dir());
            }
            std::mem::forget(plane);
        }
    }
}

fn register_stop() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    // SAFETY: registering a plain extern "C" function with atexit.
    REGISTERED.call_once(|| unsafe {
        libc::atexit(stop_control_planes);
    });
}

/// Starts a local control plane on a runtime of its own (it outlives any one test's runtime).
fn start_local(name: &str, with_node: bool, slot: &Mutex<Option<ControlPlane>>) -> Cluster {
    let dir = std::env::temp_dir().join(format!("aeo-{name}-{}", std::process::id()));
    let plane = std::thread::spawn(move || {
        let mut options = ControlPlaneOptions::new(dir);
        options.with_node = with_node;
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(ControlPlane::start(options))
    })
    .join()
    .expect("control plane start thread")
    .unwrap_or_else(|error| panic!("cannot start the local control plane ({name}): {error}"));
    eprintln!(
        "e2e: local control plane ({name}) ready in {:.1}s at {} (state {})",
        plane.startup_duration().as_secs_f64(),
        plane.server(),
        plane.state_dir().display()
    );
    let cluster = Cluster {
        kubeconfig: plane.kubeconfig_path().to_path_buf(),
        audit: Some(plane.audit_log().clone()),
        server: plane.server().to_string(),
        ca: Some(plane.ca_cert_path().to_path_buf()),
        state_dir: Some(plane.state_dir().to_path_buf()),
    };
    *slot.lock().unwrap() = Some(plane);
    register_stop();
    cluster
}

/// The shared cluster, started on first use.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        if let Some(path) = std::env::var_os("E2E_KUBECONFIG") {
            return Cluster {
                kubeconfig: PathBuf::from(path),
                audit: None,
                server: String::new(),
                ca: None,
                state_dir: None,
            };
        }
        start_local("e2e", false, &PLANE)
    })
}

/// The shared cluster with a node (pods run), started on first use; `None`, with the reason
/// printed, on an external cluster (`E2E_KUBECONFIG`): these tests load the image built here into
/// the node and reach the simulator on this machine from pods.
pub fn node_cluster(test: &str) -> Option<&'static Cluster> {
    let cluster = NODE_CLUSTER.get_or_init(|| {
        if std::env::var_os("E2E_KUBECONFIG").is_some() {
            return None;
        }
        Some(start_local("e2e-node", true, &NODE_PLANE))
    });
    if cluster.is_none() {
        eprintln!(
            "{test}: skipped: needs the local control plane's node (the image is loaded into its containerd; E2E_KUBECONFIG is set)"
        );
    }
    cluster.as_ref()
}

/// Runs `f` with the local control plane that has the node.
pub fn with_node_plane<T>(f: impl FnOnce(&mut ControlPlane) -> T) -> T {
    f(NODE_PLANE
        .lock()
        .unwrap()
        .as_mut()
        .expect("node_cluster() started the control plane with the node"))
}

impl Cluster {
    pub fn is_local(&self) -> bool {
        self.audit.is_some()
    }

    /// An admin client bound to the calling test's runtime.
    pub async fn client(&self) -> kube::Client {
        kubeconfig::client(&self.kubeconfig)
            .await
            .unwrap_or_else(|error| panic!("kubernetes client: {error}"))
    }

    /// The audit log, or `None` with a printed reason (external cluster).
    pub fn audit(&self, test: &str) -> Option<&AuditLog> {
        if self.audit.is_none() {
            eprintln!(
                "{test}: skipped: needs the local control plane's audit log (E2E_KUBECONFIG is set)"
            );
        }
        self.audit.as_ref()
    }

    /// Runs `f` with the local control plane (restart tests); `None` on an external cluster.
    pub fn with_control_plane<T>(&self, f: impl FnOnce(&mut ControlPlane) -> T) -> Option<T> {
        PLANE.lock().unwrap().as_mut().map(f)
    }

    /// Writes a kubeconfig acting as the `namespace/name` ServiceAccount (a TokenRequest token and
    /// nothing else, so the apiserver cannot authenticate it as anyone else) into `path`.
    pub async fn service_account_kubeconfig(&self, path: &Path, namespace: &str, name: &str) {
        let admin = self.client().await;
        let token = kubeconfig::service_account_token(&admin, namespace, name, 3600)
            .await
            .unwrap_or_else(|error| panic!("service account token: {error}"));
        let text = std::fs::read_to_string(&self.kubeconfig).expect("read kubeconfig");
        let mut config: serde_yaml::Value = serde_yaml::from_str(&text).expect("parse kubeconfig");
        let context = config["current-context"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let user = config["contexts"]
            .as_sequence()
            .and_then(|contexts| {
                contexts
                    .iter()
                    .find(|c| c["name"].as_str() == Some(&context))
            })
            .and_then(|c| c["context"]["user"].as_str())
            .unwrap_or_default()
            .to_string();
        if let Some(users) = config["users"].as_sequence_mut() {
            for entry in users
                .iter_mut()
                .filter(|u| u["name"].as_str() == Some(&user))
            {
                entry["user"] = serde_yaml::from_str(&format!("token: {token}")).unwrap();
            }
        }
        kubeconfig::write_private(path, &serde_yaml::to_string(&config).unwrap())
            .expect("write service account kubeconfig");
    }
}
