//! The cluster every end-to-end test in this binary shares: the local control plane, started once
//! (or the cluster of `E2E_KUBECONFIG`), stopped when the test binary exits.

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

extern "C" fn stop_control_plane() {
    if let Ok(mut plane) = PLANE.lock()
        && let Some(mut plane) = plane.take()
    {
        plane.stop();
        if std::env::var_os("E2E_KEEP_STATE").is_none() {
            let _ = std::fs::remove_dir_all(plane.state_dir());
        }
        std::mem::forget(plane);
    }
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
        let dir = std::env::temp_dir().join(format!("aeo-e2e-{}", std::process::id()));
        // A runtime of its own: the control plane outlives any one test's runtime.
        let plane = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime")
                .block_on(ControlPlane::start(ControlPlaneOptions::new(dir)))
        })
        .join()
        .expect("control plane start thread")
        .unwrap_or_else(|error| panic!("cannot start the local control plane: {error}"));
        eprintln!(
            "e2e: local control plane ready in {:.1}s at {} (state {})",
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
        *PLANE.lock().unwrap() = Some(plane);
        // SAFETY: registering a plain extern "C" function with atexit.
        unsafe {
            libc::atexit(stop_control_plane);
        }
        cluster
    })
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
