//! The command line: one subcommand per job, each a thin call into the library.

#[cfg(feature = "dev-tools")]
pub mod airbyte_sim;
#[cfg(feature = "dev-tools")]
pub mod control_plane;
pub mod run;

use clap::{Parser, Subcommand};

use embedded_operator::telemetry::LogFormat;

/// A subcommand's result: a one-line message on failure.
pub type Outcome = Result<(), String>;

#[derive(Debug, Parser)]
#[command(
    name = "airbyte-embedded-operator",
    version,
    about = "Manage Airbyte Embedded tenants as Kubernetes resources"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, env = "AIRBYTE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Option<Command>,
}

// Parsed once per process; without the dev tools `Run` is the only large variant.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the operator (the default): reconcile EmbeddedWorkspaces, SourceTemplates and
    /// EmbeddedSources with the Airbyte Embedded API.
    Run(embedded_operator::config::RunArgs),
    #[cfg(feature = "dev-tools")]
    /// Run the Airbyte Embedded API simulator (for your own CI; never for production).
    AirbyteSim(airbyte_sim::AirbyteSimArgs),
    #[cfg(feature = "dev-tools")]
    /// Run a local, real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager),
    /// building it from the upstream Go modules on first use.
    ControlPlane(control_plane::ControlPlaneArgs),
    #[cfg(feature = "dev-tools")]
    /// Try everything locally: a real Kubernetes control plane (or --kubeconfig), the Airbyte
    /// simulator and the controllers; optionally apply manifests and watch them become Ready.
    Sandbox(sandbox::SandboxArgs),
    /// Print the CustomResourceDefinitions (YAML) generated from the Rust types.
    Crds(CrdsArgs),
}

#[derive(Debug, clap::Args)]
pub struct CrdsArgs {
    /// Write one file per CRD into this folder instead of printing them.
    #[arg(long)]
    pub output_dir: Option<std::path::PathBuf>,
}

fn crds(args: CrdsArgs) -> Outcome {
    use embedded_crds::schema;
    match args.output_dir {
        None => {
            print!("{}", schema::all_yaml());
            Ok(())
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for crd in schema::crds() {
                let path = dir.join(schema::file_name(&crd));
                std::fs::write(&path, schema::to_yaml(&crd))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            Ok(())
        }
    }
}

pub async fn main(cli: Cli) -> Outcome {
    embedded_operator::shutdown::install();
    embedded_operator::telemetry::init(cli.log_format, "info");
    match cli.command {
        #[cfg(feature = "dev-tools")]
        Some(Command::AirbyteSim(args)) => airbyte_sim::run(args).await,
        #[cfg(feature = "dev-tools")]
        Some(Command::ControlPlane(args)) => control_plane::run(args).await,
        Some(Command::Crds(args)) => crds(args),
        #[cfg(feature = "dev-tools")]
        Some(Command::Sandbox(args)) => sandbox::run(args).await,
        Some(Command::Run(args)) => run::run(args).await,
        None => {
            use clap::FromArgMatches;
            let matches = <embedded_operator::config::RunArgs as clap::Args>::augment_args(
                clap::Command::new("run"),
            )
            .try_get_matches_from(["run"])
            .map_err(|e| e.to_string())?;
            let args = embedded_operator::config::RunArgs::from_arg_matches(&matches)
                .map_err(|e| e.to_string())?;
            run::run(args).await
        }
    }
}
