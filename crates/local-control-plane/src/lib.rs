//! A real Kubernetes control plane on this machine: etcd, kube-apiserver and
//! kube-controller-manager built from the upstream Go modules (`control-plane/`), started on free
//! loopback ports in one folder, with TLS, RBAC, an audit log of every request, and the garbage
//! collector, namespace, service-account and token controllers. Tests, the sandbox and the
//! benchmarks all run against it; nothing here imitates the Kubernetes API. With
//! [`ControlPlaneOptions::with_node`] it also runs kube-scheduler and a real node ([`node`]), so
//! Deployments run as pods.

pub mod audit;
pub mod binaries;
pub mod certs;
pub mod kubeconfig;
pub mod node;
pub mod process;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::{Api, Client};

pub use audit::{AuditEvent, AuditLog};
use certs::PkiFiles;
use node::{Node, NodeInputs};
use process::ManagedChild;

/// Controllers of kube-controller-manager the project relies on.
const CONTROLLERS: &str = "garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,clusterrole-aggregation-controller,validatingadmissionpolicy-status-controller";
/// Added with a node: Deployments become pods, and the node loses its not-ready taint.
const NODE_CONTROLLERS: &str = "deployment-controller,replicaset-controller,node-lifecycle-controller,pod-garbage-collector-controller";

const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [\"RequestReceived\"]
rules:
- level: Metadata
";

#[derive(Debug, thiserror::Error)]
pub enum ControlPlaneError {
    #[error(transparent)]
    Binaries(#[from] binaries::BinariesError),
    #[error("control plane folder {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create certificates: {0}")]
    Certificates(String),
    #[error("{name} exited during startup ({status}); last log lines:\n{log}")]
    Exited {
        name: String,
        status: String,
        log: String,
    },
    #[error("{what} not ready after {seconds}s; last log lines:\n{log}")]
    Timeout {
        what: String,
        seconds: u64,
        log: String,
    },
    #[error("kubernetes client: {0}")]
    Client(String),
    #[error("node: {0}")]
    Node(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ControlPlaneError + '_ {
    move |source| ControlPlaneError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Where and how to start.
#[derive(Clone, Debug)]
pub struct ControlPlaneOptions {
    /// Folder for data, certificates, logs, the audit log and the kubeconfig (created if missing;
    /// emptied of a previous run's etcd data).
    pub state_dir: PathBuf,
    /// Folder with the three binaries; `None`: find or build them ([`binaries::ensure`]).
    pub binaries: Option<PathBuf>,
    pub startup_timeout: Duration,
    /// Also run kube-scheduler and a node (kubelet, containerd): needs root and the host programs
    /// [`node`] lists.
    pub with_node: bool,
}

impl ControlPlaneOptions {
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        ControlPlaneOptions {
            state_dir: state_dir.into(),
            binaries: None,
            startup_timeout: Duration::from_secs(120),
            with_node: false,
        }
    }
}

/// A running control plane. Dropping it stops all three processes.
pub struct ControlPlane {
    dir: PathBuf,
    bin: PathBuf,
    pki: PkiFiles,
    server: String,
    kubeconfig: PathBuf,
    audit: AuditLog,
    etcd_url: String,
    apiserver_port: u16,
    // Stopped in reverse order of start by `stop` (controller manager first, etcd last).
    etcd: Option<ManagedChild>,
    apiserver: Option<ManagedChild>,
    controller_manager: Option<ManagedChild>,
    scheduler: Option<ManagedChild>,
    node: Option<Node>,
    with_node: bool,
    startup: Duration,
}

/// A free loopback port (bound, then released: a start that loses the race is retried).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl ControlPlane {
    /// Starts etcd, kube-apiserver and kube-controller-manager and waits until the apiserver is
    /// ready and the controller manager works (the `default` ServiceAccount exists).
    pub async fn start(options: ControlPlaneOptions) -> Result<ControlPlane, ControlPlaneError> {
        let started = Instant::now();
        let bin = match options.binaries.clone() {
            Some(bin) => bin,
            None => tokio::task::spawn_blocking(binaries::ensure)
                .await
                .map_err(|e| ControlPlaneError::Client(e.to_string()))??,
        };
        let dir = options.state_dir.clone();
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let dir = dir.canonicalize().map_err(io_error(&dir))?;
        let etcd_data = dir.join("etcd");
        if etcd_data.exists() {
            std::fs::remove_dir_all(&etcd_data).map_err(io_error(&etcd_data))?;
        }
        let pki = certs::generate(&dir.join("pki"))
            .map_err(|e| ControlPlaneError::Certificates(e.to_string()))?;
        let policy = dir.join("audit-policy.yaml");
        std::fs::write(&policy, AUDIT_POLICY).map_err(io_error(&policy))?;
        let audit = AuditLog::new(dir.join("audit.log"));

        let mut last_error = None;
        for _attempt in 0..3 {
            let mut plane = ControlPlane {
                dir: dir.clone(),
                bin: bin.clone(),
                pki: pki.clone(),
                server: String::new(),
                kubeconfig: dir.join("kubeconfig"),
                audit: audit.clone(),
                etcd_url: String::new(),
                apiserver_port: 0,
                etcd: None,
                apiserver: None,
                controller_manager: None,
                scheduler: None,
                node: None,
                with_node: options.with_node,
                startup: Duration::ZERO,
            };
            match plane.boot(options.startup_timeout).await {
                Ok(()) => {
                    plane.startup = started.elapsed();
                    tracing::info!(seconds = plane.startup.as_secs_f64(), server = %plane.server, "control plane ready");
                    return Ok(plane);
                }
                // A port taken between choosing and binding shows as an early exit: retry.
                Err(error @ ControlPlaneError::Exited { .. }) => {
                    plane.stop();
                    last_error = Some(error);
                }
                Err(error) => return Err(error),
            }
        }
        Err(last_error.expect("three attempts recorded an error"))
    }

    async fn boot(&mut self, timeout: Duration) -> Result<(), ControlPlaneError> {
        let deadline = Instant::now() + timeout;
        self.start_etcd(deadline).await?;
        self.start_apiserver(deadline).await?;
        self.start_controller_manager(deadline).await?;
        if self.with_node {
            self.start_scheduler()?;
            let inputs = NodeInputs {
                bin: &self.bin,
                dir: &self.dir,
                pki: &self.pki,
                server: &self.server,
                apiserver_port: self.apiserver_port,
                client: self.admin_client().await?,
            };
            self.node = Some(Node::start(inputs, deadline).await?);
        }
        Ok(())
    }

    fn start_scheduler(&mut self) -> Result<(), ControlPlaneError> {
        let path = self.dir.join("kube-scheduler.kubeconfig");
        kubeconfig::write(
            &path,
            &self.server,
            &self.pki.ca_cert,
            kubeconfig::Credentials::Certificate {
                cert: &self.pki.scheduler_cert,
                key: &self.pki.scheduler_key,
            },
        )
        .map_err(io_error(&path))?;
        let k = path.display().to_string();
        let port = free_port().map_err(io_error(&self.dir))?;
        let args = vec![
            format!("--kubeconfig={k}"),
            format!("--authentication-kubeconfig={k}"),
            format!("--authorization-kubeconfig={k}"),
            "--leader-elect=false".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", self.dir.join("pki").display()),
            "--profiling=false".into(),
        ];
        self.scheduler = Some(self.spawn("kube-scheduler", args)?);
        Ok(())
    }

    fn spawn(&self, name: &str, args: Vec<String>) -> Result<ManagedChild, ControlPlaneError> {
        let log = self.dir.join(format!("{name}.log"));
        ManagedChild::spawn(name, &self.bin.join(name), &args, &log).map_err(io_error(&log))
    }

    async fn start_etcd(&mut self, deadline: Instant) -> Result<(), ControlPlaneError> {
        let port = free_port().map_err(io_error(&self.dir))?;
        self.etcd_url = format!("http://127.0.0.1:{port}");
        let data = self.dir.join("etcd");
        let args = vec![
            format!("--data-dir={}", data.display()),
            format!("--listen-client-urls={}", self.etcd_url),
            format!("--advertise-client-urls={}", self.etcd_url),
            "--listen-peer-urls=http://127.0.0.1:0".into(),
            "--unsafe-no-fsync=true".into(),
            "--log-level=warn".into(),
            "--quota-backend-bytes=8589934592".into(),
        ];
        self.etcd = Some(self.spawn("etcd", args)?);
        let health = format!("{}/health", self.etcd_url);
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| ControlPlaneError::Client(e.to_string()))?;
        wait_until(deadline, "etcd", self.etcd.as_mut(), || {
            let http = http.clone();
            let health = health.clone();
            async move {
                matches!(http.get(&health).send().await, Ok(r) if r.status().is_success())
            }
        })
        .await
    }

    fn apiserver_args(&self) -> Vec<String> {
        let pki = &self.pki;
        let p = |path: &Path| path.display().to_string();
        vec![
            format!("--etcd-servers={}", self.etcd_url),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={}", self.apiserver_port),
            format!("--tls-cert-file={}", p(&pki.serving_cert)),
            format!("--tls-private-key-file={}", p(&pki.serving_key)),
            format!("--client-ca-file={}", p(&pki.ca_cert)),
            "--service-account-issuer=https://kubernetes.default.svc".into(),
            format!(
                "--service-account-key-file={}",
                p(&pki.service_account_public_key)
            ),
            format!(
                "--service-account-signing-key-file={}",
                p(&pki.service_account_key)
            ),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            "--authorization-mode=Node,RBAC".into(),
            format!(
                "--kubelet-client-certificate={}",
                p(&pki.apiserver_kubelet_client_cert)
            ),
            format!(
                "--kubelet-client-key={}",
                p(&pki.apiserver_kubelet_client_key)
            ),
            // The node's name resolves nowhere; its InternalIP is the pod network's gateway.
            "--kubelet-preferred-address-types=InternalIP".into(),
            "--allow-privileged=true".into(),
            "--endpoint-reconciler-type=none".into(),
            format!("--cert-dir={}", p(&self.dir.join("pki"))),
            format!(
                "--audit-policy-file={}",
                p(&self.dir.join("audit-policy.yaml"))
            ),
            format!("--audit-log-path={}", p(self.audit.path())),
            "--audit-log-format=json".into(),
            "--audit-log-mode=blocking".into(),
            // Not rotated in practice (lumberjack rotates at 100 MB when this is 0): audit counts
            // read the log from a byte offset.
            "--audit-log-maxsize=100000".into(),
            "--profiling=false".into(),
        ]
    }

    async fn start_apiserver(&mut self, deadline: Instant) -> Result<(), ControlPlaneError> {
        self.apiserver_port = free_port().map_err(io_error(&self.dir))?;
        self.server = format!("https://127.0.0.1:{}", self.apiserver_port);
        self.apiserver = Some(self.spawn("kube-apiserver", self.apiserver_args())?);
        kubeconfig::write_admin(&self.kubeconfig, &self.server, &self.pki)
            .map_err(io_error(&self.kubeconfig))?;
        let client = self.admin_client().await?;
        let readyz = format!("{}/readyz", self.server);
        wait_until(deadline, "kube-apiserver", self.apiserver.as_mut(), || {
            let client = client.clone();
            let readyz = readyz.clone();
            async move {
                if !apiserver_ready(&readyz).await {
                    return false;
                }
                let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
                namespaces.get_opt("default").await.ok().flatten().is_some()
            }
        })
        .await
    }

    async fn start_controller_manager(
        &mut self,
        deadline: Instant,
    ) -> Result<(), ControlPlaneError> {
        let kcm_kubeconfig = self.dir.join("kube-controller-manager.kubeconfig");
        kubeconfig::write(
            &kcm_kubeconfig,
            &self.server,
            &self.pki.ca_cert,
            kubeconfig::Credentials::Certificate {
                cert: &self.pki.controller_manager_cert,
                key: &self.pki.controller_manager_key,
            },
        )
        .map_err(io_error(&kcm_kubeconfig))?;
        let port = free_port().map_err(io_error(&self.dir))?;
        let k = kcm_kubeconfig.display().to_string();
        let args = vec![
            format!("--kubeconfig={k}"),
            format!("--authentication-kubeconfig={k}"),
            format!("--authorization-kubeconfig={k}"),
            if self.with_node {
                format!("--controllers={CONTROLLERS},{NODE_CONTROLLERS}")
            } else {
                format!("--controllers={CONTROLLERS}")
            },
            format!(
                "--service-account-private-key-file={}",
                self.pki.service_account_key.display()
            ),
            format!("--root-ca-file={}", self.pki.ca_cert.display()),
            "--use-service-account-credentials=true".into(),
            "--leader-elect=false".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", self.dir.join("pki").display()),
            "--profiling=false".into(),
        ];
        self.controller_manager = Some(self.spawn("kube-controller-manager", args)?);
        let client = self.admin_client().await?;
        wait_until(
            deadline,
            "kube-controller-manager",
            self.controller_manager.as_mut(),
            || {
                let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
                async move { accounts.get_opt("default").await.ok().flatten().is_some() }
            },
        )
        .await
    }

    /// Restarts kube-apiserver (and etcd, when `with_etcd`) on the same ports and data: the
    /// cluster keeps its state, clients lose their connections.
    pub async fn restart_apiserver(&mut self, with_etcd: bool) -> Result<(), ControlPlaneError> {
        let deadline = Instant::now() + Duration::from_secs(120);
        if let Some(mut apiserver) = self.apiserver.take() {
            apiserver.stop(Duration::from_secs(10));
        }
        if with_etcd {
            if let Some(mut etcd) = self.etcd.take() {
                etcd.stop(Duration::from_secs(10));
            }
            let data = self.dir.join("etcd");
            let args = vec![
                format!("--data-dir={}", data.display()),
                format!("--listen-client-urls={}", self.etcd_url),
                format!("--advertise-client-urls={}", self.etcd_url),
                "--listen-peer-urls=http://127.0.0.1:0".into(),
                "--unsafe-no-fsync=true".into(),
                "--log-level=warn".into(),
            ];
            self.etcd = Some(self.spawn("etcd", args)?);
        }
        self.apiserver = Some(self.spawn("kube-apiserver", self.apiserver_args())?);
        let readyz = format!("{}/readyz", self.server);
        wait_until(deadline, "kube-apiserver", self.apiserver.as_mut(), || {
            let readyz = readyz.clone();
            async move { apiserver_ready(&readyz).await }
        })
        .await
    }

    /// Stops the node (undoing its changes to the machine), then the processes, the controller
    /// manager first.
    pub fn stop(&mut self) {
        if let Some(mut node) = self.node.take() {
            node.stop();
        }
        for child in [
            &mut self.scheduler,
            &mut self.controller_manager,
            &mut self.apiserver,
            &mut self.etcd,
        ] {
            if let Some(mut child) = child.take() {
                child.stop(Duration::from_secs(10));
            }
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The admin kubeconfig (client certificate in `system:masters`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn state_dir(&self) -> &Path {
        &self.dir
    }

    pub fn ca_cert_path(&self) -> &Path {
        &self.pki.ca_cert
    }

    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    pub fn startup_duration(&self) -> Duration {
        self.startup
    }

    /// Process ids of the processes, the node's included (for tests that check nothing is left
    /// behind).
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = [
            &self.etcd,
            &self.apiserver,
            &self.controller_manager,
            &self.scheduler,
        ]
        .into_iter()
        .flatten()
        .map(|c| c.pid())
        .collect();
        pids.extend(self.node.iter().flat_map(Node::pids));
        pids
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) kube-apiserver: an outage in which connections are
    /// accepted by the kernel and never answered, as with a hung apiserver.
    pub fn freeze_apiserver(&self, frozen: bool) {
        use nix::sys::signal::{Signal, kill};
        if let Some(apiserver) = &self.apiserver {
            let signal = if frozen {
                Signal::SIGSTOP
            } else {
                Signal::SIGCONT
            };
            let _ = kill(nix::unistd::Pid::from_raw(apiserver.pid() as i32), signal);
        }
    }

    /// The node, when started [`ControlPlaneOptions::with_node`].
    pub fn node(&self) -> Option<&Node> {
        self.node.as_ref()
    }

    pub fn node_mut(&mut self) -> Option<&mut Node> {
        self.node.as_mut()
    }

    /// A client acting as the admin (`system:masters`).
    pub async fn admin_client(&self) -> Result<Client, ControlPlaneError> {
        kubeconfig::client(&self.kubeconfig).await
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `GET /readyz` answers `ok` (anonymous: the bootstrap RBAC lets anyone read health endpoints).
/// Plain HTTP probe rather than a Kubernetes client, which would log every refused poll as an error.
async fn apiserver_ready(readyz: &str) -> bool {
    let Ok(http) = reqwest::Client::builder()
        .no_proxy()
        // Health probe of our own loopback apiserver, no credentials sent.
        .tls_danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(5))
        .build()
    else {
        return false;
    };
    match http.get(readyz).send().await {
        Ok(response) if response.status().is_success() => {
            response.text().await.is_ok_and(|body| body.trim() == "ok")
        }
        _ => false,
    }
}

/// Polls `ready` every 200 ms until it holds, the child exits, or the deadline passes.
pub(crate) async fn wait_until<F, Fut>(
    deadline: Instant,
    what: &str,
    mut child: Option<&mut ManagedChild>,
    mut ready: F,
) -> Result<(), ControlPlaneError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if let Some(child) = child.as_deref_mut()
            && let Some(status) = child.exited()
        {
            return Err(ControlPlaneError::Exited {
                name: what.into(),
                status: status.to_string(),
                log: child.log_tail(20),
            });
        }
        if ready().await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ControlPlaneError::Timeout {
                what: what.into(),
                seconds: started.elapsed().as_secs(),
                log: child.map(|c| c.log_tail(20)).unwrap_or_default(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
