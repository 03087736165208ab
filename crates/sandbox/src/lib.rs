//! `airbyte-embedded-operator sandbox`: everything on one machine with no cluster and no Airbyte
//! account. Starts (or uses, with `--kubeconfig`) a real Kubernetes control plane, the Airbyte
//! simulator on 127.0.0.1, installs the CRDs, runs the controllers in this process, writes a
//! `kubeconfig` and an `airbyte.env` into the state folder, and optionally applies manifests and
//! shows their progress. Ctrl-C or SIGTERM stops everything it started.

pub mod apply;
mod in_cluster;
pub mod organizations;
pub mod table;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use futures::FutureExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};

use airbyte_sim::{SimConfig, Simulator};
use embedded_crds::schema;
use embedded_operator::config::{OperatorConfig, WorkspaceNamePolicy};
use embedded_operator::metrics::Metrics;
use local_control_plane::{ControlPlane, ControlPlaneOptions, kubeconfig};

/// Namespace of the operator in the sandbox (SourceTemplates' Secrets live here).
pub const OPERATOR_NAMESPACE: &str = "airbyte-embedded-operator";

#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// Folder for the control plane's data, the `kubeconfig` and `airbyte.env`.
    #[arg(long, env = "AIRBYTE_SANDBOX_STATE_DIR", default_value = ".sandbox")]
    pub state_dir: PathBuf,
    /// Files or folders of manifests to apply once everything runs (repeatable).
    #[arg(long)]
    pub apply: Vec<PathBuf>,
    /// Use this cluster (kind, k3d, any) instead of starting a local control plane.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Lifetime of the simulator's scoped tokens, in seconds.
    #[arg(long, default_value_t = 1200)]
    pub token_ttl_seconds: u64,
    /// Run the operator as users do: the local control plane gets a node, the image archive
    /// (`--image-archive`, from `scripts/build-image.sh`) is loaded into it and the Helm chart is
    /// installed with it, instead of running the controllers in this process. Needs root,
    /// containerd, runc, the CNI plugins, buildah, iptables and helm.
    #[arg(long, requires = "image_archive", conflicts_with = "kubeconfig")]
    pub in_cluster: bool,
    /// The image archive for `--in-cluster` (`scripts/build-image.sh` prints its path).
    #[arg(long)]
    pub image_archive: Option<PathBuf>,
    /// The chart for `--in-cluster`.
    #[arg(long, default_value = "charts/airbyte-embedded-operator")]
    pub chart: PathBuf,
    /// The helm binary for `--in-cluster`.
    #[arg(long, default_value = "helm")]
    pub helm: PathBuf,
}

fn step(message: &str) {
    eprintln!("sandbox: {message}");
}

/// Installs the CRDs (the sandbox stands in for `kubectl apply -f crds/`) and waits until served.
async fn install_crds(client: &Client) -> Result<(), String> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("airbyte-embedded-operator-sandbox").force();
    for crd in schema::crds() {
        let name = crd.name_any();
        api.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .map_err(|e| format!("installing CRD {name}: {e}"))?;
        let established = kube::runtime::wait::conditions::is_crd_established();
        tokio::time::timeout(
            Duration::from_secs(60),
            kube::runtime::wait::await_condition(api.clone(), &name, established),
        )
        .await
        .map_err(|_| format!("CRD {name} not established after 60 s"))?
        .map_err(|e| format!("CRD {name}: {e}"))?;
    }
    Ok(())
}

async fn ensure_namespace(client: &Client, name: &str) -> Result<(), String> {
    let api: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace = serde_json::from_value(
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
    )
    .map_err(|e| e.to_string())?;
    api.patch(
        name,
        &PatchParams::apply("airbyte-embedded-operator-sandbox"),
        &Patch::Apply(&namespace),
    )
    .await
    .map_err(|e| format!("creating namespace {name}: {e}"))?;
    Ok(())
}

fn write_env(path: &Path, sim: &Simulator) -> std::io::Result<()> {
    let config = &sim.state().config;
    let partner = sim.state().organizations()[1].clone();
    let text = format!(
        "AIRBYTE_API_URL=http://{}\nAIRBYTE_CLIENT_ID={}\nAIRBYTE_CLIENT_SECRET={}\nAIRBYTE_ORGANIZATION_ID={}\nAIRBYTE_PARTNER_ORGANIZATION_ID={}\n",
        sim.addr(),
        config.client_id,
        config.client_secret,
        config.organization_id,
        partner.id
    );
    kubeconfig::write_private(path, &text)
}

/// The controllers in this process, against the simulator.
fn spawn_controllers(
    client: &Client,
    sim: &Simulator,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<tokio::task::JoinHandle<Result<(), String>>, String> {
    let config = OperatorConfig {
        api_url: sim.url(),
        // Both organizations are resources (`organizations::manifests`): no flags.
        organization_id: None,
        credentials: None,
        watch_namespace: None,
        selector: None,
        secret_namespace: OPERATOR_NAMESPACE.into(),
        workspace_name_policy: WorkspaceNamePolicy::Namespaced,
        concurrency: 16,
        max_requests_per_second: std::num::NonZeroU32::new(50),
        drift_interval: Duration::from_secs(600),
        metrics_addr: "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
        leader_election: None,
        allow_insecure_http: false,
        allowed_api_urls: vec![sim.url()],
        identity: "sandbox".into(),
    };
    let metrics = Arc::new(Metrics::new());
    metrics.leader.set(1);
    Ok(tokio::spawn(embedded_operator::controllers::run_with(
        client.clone(),
        config,
        metrics,
        Arc::new(AtomicBool::new(false)),
        shutdown,
    )))
}

pub async fn run(args: SandboxArgs) -> Result<(), String> {
    std::fs::create_dir_all(&args.state_dir)
        .map_err(|e| format!("{}: {e}", args.state_dir.display()))?;
    let state_dir = args.state_dir.canonicalize().map_err(|e| e.to_string())?;
    let shutdown = embedded_operator::shutdown::signal().shared();

    // 1. Kubernetes: the given cluster, or a local control plane (built on first use).
    let (kubeconfig_path, mut plane) = match &args.kubeconfig {
        Some(path) => (path.clone(), None),
        None => {
            step(
                "starting the local Kubernetes control plane (the first run builds it from the Go modules: several minutes)",
            );
            let mut options = ControlPlaneOptions::new(state_dir.join("control-plane"));
            options.with_node = args.in_cluster;
            let plane = ControlPlane::start(options)
                .await
                .map_err(|e| e.to_string())?;
            let path = state_dir.join("kubeconfig");
            std::fs::copy(plane.kubeconfig_path(), &path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            step(&format!(
                "control plane ready in {:.1}s at {}",
                plane.startup_duration().as_secs_f64(),
                plane.server()
            ));
            (path, Some(plane))
        }
    };
    let client = kubeconfig::client(&kubeconfig_path)
        .await
        .map_err(|e| e.to_string())?;

    // 2. The Airbyte simulator, and its coordinates for curl.
    let sim = Simulator::start(
        SimConfig {
            client_id: "sandbox".into(),
            more_organizations: vec![airbyte_sim::OrganizationConfig::random("sandbox-partner")],
            scoped_token_ttl: Duration::from_secs(args.token_ttl_seconds),
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
    )
    .await
    .map_err(|e| format!("starting the Airbyte simulator: {e}"))?;
    let env_path = state_dir.join("airbyte.env");
    write_env(&env_path, &sim).map_err(|e| format!("{}: {e}", env_path.display()))?;
    step(&format!("Airbyte Embedded API simulator at {}", sim.url()));

    // 3. CRDs and the operator's namespace.
    install_crds(&client).await?;
    ensure_namespace(&client, OPERATOR_NAMESPACE).await?;

    // 4. The controllers, in this process; or (--in-cluster) the chart with the built image.
    let (controllers, api_url) = if args.in_cluster {
        let archive = args
            .image_archive
            .as_deref()
            .ok_or("--in-cluster needs --image-archive")?;
        step("loading the image into the node and installing the chart (helm --wait)");
        let with = in_cluster::InCluster {
            archive,
            chart: &args.chart,
            helm: &args.helm,
            kubeconfig: &kubeconfig_path,
        };
        let plane = plane
            .as_mut()
            .ok_or("--in-cluster needs the local control plane")?;
        let api_url = in_cluster::install(plane, &sim, with).await?;
        step(
            "the operator runs as a pod: kubectl -n airbyte-embedded-operator logs deploy/airbyte-embedded-operator",
        );
        (None, api_url)
    } else {
        let controllers = spawn_controllers(&client, &sim, shutdown.clone())?;
        (Some(controllers), sim.url().to_string())
    };
    let organizations = organizations::manifests(&sim, api_url.trim_end_matches('/'))?;
    apply::apply(&client, &organizations).await?;
    step(&format!(
        "declared the simulator's two organizations: ClusterAirbyteOrganization default and {}",
        organizations::PARTNER
    ));

    println!(
        "sandbox ready: export KUBECONFIG={}",
        kubeconfig_path.display()
    );
    println!("  try:   kubectl apply -f examples/ && kubectl get airbyte -A");
    println!(
        "  Airbyte simulator: source {} then curl $AIRBYTE_API_URL/_sim/state",
        env_path.display()
    );
    println!("  Ctrl-C stops everything the sandbox started.");

    // 5. --apply: the manifests, then their progress.
    if !args.apply.is_empty() {
        let mut manifests = apply::read(&args.apply)?;
        apply::apply(&client, &manifests).await?;
        let declared = organizations
            .into_iter()
            .filter(|m| m.gvk.kind == "ClusterAirbyteOrganization");
        manifests.splice(0..0, declared);
        println!(
            "applied {} objects; waiting for them to settle:",
            manifests.len()
        );
        let rows = tokio::select! {
            rows = table::watch(&client, &manifests, Duration::from_secs(600)) => rows,
            _ = shutdown.clone() => Vec::new(),
        };
        let ready = rows.iter().filter(|r| r.ready == "True").count();
        let stalled = rows.iter().filter(|r| r.stalled).count();
        println!(
            "settled: {ready} Ready, {stalled} Stalled; the sandbox keeps serving until Ctrl-C"
        );
    }

    shutdown.await;
    step("stopping");
    if let Some(controllers) = controllers {
        let _ = tokio::time::timeout(Duration::from_secs(10), controllers).await;
    }
    drop(sim);
    drop(plane);
    Ok(())
}
