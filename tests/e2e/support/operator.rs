//! The real operator binary, run against the shared cluster and a test's own Airbyte simulator,
//! confined to the test's namespace and label (so tests run side by side).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::Duration;

use airbyte_sim::{SimConfig, Simulator};
use local_control_plane::free_port;

use super::{Generation, TestContext, repo_path};

/// Label every object of a test carries; the test's operator reconciles only those.
pub const TEST_LABEL: &str = "e2e.airbyte.ai/test";

static CRDS: Once = Once::new();

/// Installs `crds/` once per suite and waits until they are served.
pub fn install_crds(ctx: &TestContext) {
    CRDS.call_once(|| {
        let tools = ctx.tools(Generation::Current);
        let crds = repo_path("crds");
        tools
            .kubectl(&[
                "apply",
                "--server-side",
                "--force-conflicts",
                "-f",
                crds.to_str().unwrap(),
            ])
            .success();
        tools
            .kubectl(&[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd/embeddedworkspaces.embedded.airbyte.ai",
                "crd/sourcetemplates.embedded.airbyte.ai",
                "crd/embeddedsources.embedded.airbyte.ai",
                "crd/connectiontemplates.embedded.airbyte.ai",
                "crd/clusterairbyteorganizations.embedded.airbyte.ai",
                "crd/airbyteorganizations.embedded.airbyte.ai",
            ])
            .success();
    });
}

/// Settings of one operator run.
#[derive(Clone, Debug)]
pub struct OperatorOptions {
    pub drift_interval_seconds: u64,
    pub extra_args: Vec<String>,
    pub extra_env: Vec<(String, String)>,
    pub kubeconfig: Option<PathBuf>,
    /// Elect a leader on a Lease in the test namespace, as this identity (POD_NAME).
    pub leader_identity: Option<String>,
    /// The log file's name in the test folder.
    pub log_name: String,
    /// Watch every namespace (objects are still confined to the test's label).
    pub all_namespaces: bool,
    /// Another operator binary (the previous release, for the upgrade test).
    pub binary: Option<PathBuf>,
}

impl OperatorOptions {
    pub fn leader(identity: &str) -> Self {
        OperatorOptions {
            leader_identity: Some(identity.into()),
            log_name: format!("operator-{identity}.log"),
            ..Default::default()
        }
    }
}

impl Default for OperatorOptions {
    fn default() -> Self {
        OperatorOptions {
            drift_interval_seconds: 600,
            extra_args: Vec::new(),
            extra_env: Vec::new(),
            kubeconfig: None,
            leader_identity: None,
            log_name: "operator.log".into(),
            all_namespaces: false,
            binary: None,
        }
    }
}

/// A running operator process; killed when dropped.
pub struct Operator {
    /// POD_NAME of the process: its user agent ends in `(identity)`.
    pub identity: String,
    child: Option<Child>,
    pub log: PathBuf,
    pub metrics_port: u16,
    command: Vec<String>,
    env: Vec<(String, String)>,
    starts: u32,
}

impl Operator {
    /// Starts the operator for `ctx`'s namespace and label against `sim`.
    pub fn start(ctx: &TestContext, sim: &Simulator, options: OperatorOptions) -> Operator {
        let metrics_port = free_port().unwrap();
        let binary = options.binary.as_ref().map_or_else(
            || env!("CARGO_BIN_EXE_airbyte-embedded-operator").to_string(),
            |path| path.display().to_string(),
        );
        let mut command = vec![
            binary,
            "run".into(),
            "--api-url".into(),
            sim.url().to_string(),
            "--organization-id".into(),
            sim.organization_id().to_string(),
            "--selector".into(),
            format!("{TEST_LABEL}={}", ctx.namespace),
            "--secret-namespace".into(),
            ctx.namespace.clone(),
            "--metrics-addr".into(),
            format!("127.0.0.1:{metrics_port}"),
            "--drift-interval-seconds".into(),
            options.drift_interval_seconds.to_string(),
        ];
        if !options.all_namespaces {
            command.extend(["--watch-namespace".into(), ctx.namespace.clone()]);
        }
        if options.leader_identity.is_some() {
            command.extend([
                "--leader-election".into(),
                "--leader-election-namespace".into(),
                ctx.namespace.clone(),
                "--leader-election-lease-seconds".into(),
                "10".into(),
            ]);
        }
        command.extend(options.extra_args.iter().cloned());
        let kubeconfig = options
            .kubeconfig
            .clone()
            .unwrap_or_else(|| ctx.cluster.kubeconfig.clone());
        let mut env = vec![
            ("KUBECONFIG".to_string(), kubeconfig.display().to_string()),
            (
                "AIRBYTE_CLIENT_ID".to_string(),
                sim.state().config.client_id.clone(),
            ),
            (
                "AIRBYTE_CLIENT_SECRET".to_string(),
                sim.state().config.client_secret.clone(),
            ),
            (
                "RUST_LOG".to_string(),
                "debug,hyper=info,h2=info,tower=info,rustls=info".to_string(),
            ),
        ];
        // A distinct identity per operator: it ends its user agent, which the audit log records.
        let identity = options
            .leader_identity
            .clone()
            .unwrap_or_else(|| ctx.namespace.clone());
        env.push(("POD_NAME".to_string(), identity.clone()));
        env.extend(options.extra_env.iter().cloned());
        let identity = env
            .iter()
            .rev()
            .find(|(k, _)| k == "POD_NAME")
            .map(|(_, v)| v.clone())
            .unwrap_or(identity);
        let mut operator = Operator {
            identity,
            child: None,
            log: ctx.path(&options.log_name),
            metrics_port,
            command,
            env,
            starts: 0,
        };
        operator.spawn();
        operator
    }

    /// Starts the operator binary with exactly `args` and `env` (for tests that take the flags
    /// from elsewhere, such as the Helm chart's Deployment).
    pub fn start_raw(
        log: PathBuf,
        metrics_port: u16,
        args: Vec<String>,
        env: Vec<(String, String)>,
    ) -> Operator {
        let mut command = vec![env!("CARGO_BIN_EXE_airbyte-embedded-operator").to_string()];
        command.extend(args);
        let identity = env
            .iter()
            .find(|(k, _)| k == "POD_NAME")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let mut operator = Operator {
            identity,
            child: None,
            log,
            metrics_port,
            command,
            env,
            starts: 0,
        };
        operator.spawn();
        operator
    }

    /// The operator running elsewhere (in a pod): nothing to start or stop here.
    pub fn elsewhere(identity: &str, log: PathBuf) -> Operator {
        Operator {
            identity: identity.to_string(),
            child: None,
            log,
            metrics_port: 0,
            command: Vec::new(),
            env: Vec::new(),
            starts: 0,
        }
    }

    fn spawn(&mut self) {
        use std::io::Write;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        writeln!(log, "==== operator start {} ====", self.starts).unwrap();
        self.starts += 1;
        let mut command = Command::new(&self.command[0]);
        command
            .args(&self.command[1..])
            .env_remove("AIRBYTE_ACCESS_TOKEN")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        self.child = Some(command.spawn().expect("start the operator binary"));
    }

    /// How many times the process was started.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// SIGKILL, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        self.stop_within(Duration::from_secs(10))
    }

    /// SIGTERM; the exit status if the process ended within `limit` (it is killed otherwise).
    pub fn stop_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the operator is still running");
        self.spawn();
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `/metrics` text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://127.0.0.1:{}/metrics", self.metrics_port))
            .await
            .and_then(|r| r.error_for_status())
            .expect("metrics endpoint")
            .text()
            .await
            .unwrap()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Keep the whole log where the developer asked (E2E_ARTIFACTS_DIR).
            if let Some(dir) = std::env::var_os("E2E_ARTIFACTS_DIR") {
                let name = format!(
                    "{}-{}",
                    self.identity,
                    self.log.file_name().unwrap_or_default().to_string_lossy()
                );
                let _ = std::fs::create_dir_all(&dir);
                let _ = std::fs::copy(&self.log, PathBuf::from(dir).join(name));
            }
            let logs = self.logs();
            let tail: Vec<&str> = logs.lines().rev().take(60).collect();
            eprintln!("---- operator log (last 60 lines) ----");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
        self.kill();
    }
}

/// A simulator on a free loopback port with the given scoped-token lifetime, strict: a request
/// field the reference does not name is refused, and every answer is checked against the
/// reference.
/// A strict simulator of two organizations: the first is the operator's (its flags), the
/// second one a test may declare as an organization object ([`super::Scenario::partner`]).
pub async fn simulator(scoped_token_ttl: Duration) -> Simulator {
    let config = SimConfig {
        scoped_token_ttl,
        modes: airbyte_sim::Modes::strict(),
        more_organizations: vec![airbyte_sim::OrganizationConfig::random("partner-client")],
        ..SimConfig::default()
    };
    Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}
