//! The control plane's own costs: build (cold, warm Go caches, cached), startup to ready, and the
//! write throughput a plain kube-rs client gets at a few concurrency levels: the floor the
//! operator's scale benchmark is compared with.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use embedded_crds::EmbeddedWorkspace;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use super::workload::start_plane;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also build from empty Go module and build caches (downloads everything: minutes).
    #[arg(long)]
    pub cold_build: bool,
    /// Objects per throughput measurement.
    #[arg(long, default_value_t = 500)]
    pub objects: usize,
    /// Concurrency levels of the throughput measurements.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,64")]
    pub concurrency: Vec<usize>,
}

fn repo() -> &'static Path {
    // crates/bench → the repository root.
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Runs control-plane/build.sh with extra environment; returns its duration.
fn timed_build(env: &[(&str, &Path)]) -> Result<Duration, String> {
    let started = Instant::now();
    let mut command = Command::new("bash");
    command.arg(repo().join("control-plane/build.sh"));
    for (key, value) in env {
        command.env(key, value);
    }
    let status = command.status().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("build failed: {status}"));
    }
    Ok(started.elapsed())
}

pub async fn run(args: Args) -> Result<(), String> {
    println!("## Control plane build");
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    if args.cold_build {
        let cold = timed_build(&[
            ("GOMODCACHE", &scratch.path().join("gomod")),
            ("GOCACHE", &scratch.path().join("gocache")),
            ("AIRBYTE_CONTROL_PLANE_CACHE", &scratch.path().join("cold")),
        ])?;
        println!(
            "| cold (empty Go module, build and binary caches) | {:.0} s |",
            cold.as_secs_f64()
        );
        // The scratch module cache is read-only by Go's design; make it removable.
        let _ = Command::new("chmod")
            .args(["-R", "u+w"])
            .arg(scratch.path())
            .status();
    }
    let warm = timed_build(&[("AIRBYTE_CONTROL_PLANE_CACHE", &scratch.path().join("warm"))])?;
    println!(
        "| warm Go caches, binaries rebuilt | {:.1} s |",
        warm.as_secs_f64()
    );
    let cached = timed_build(&[])?;
    println!("| binaries cached | {:.2} s |", cached.as_secs_f64());

    println!(
        "\n## Startup to ready (etcd, kube-apiserver, kube-controller-manager; default ServiceAccount present)"
    );
    let mut startups = Vec::new();
    for attempt in 0..3 {
        let dir = scratch.path().join(format!("startup-{attempt}"));
        let started = Instant::now();
        let (plane, _) = start_plane(&dir).await?;
        startups.push(started.elapsed());
        drop(plane);
    }
    startups.sort();
    println!("| min | median | max |\n|---|---|---|");
    println!(
        "| {:.1} s | {:.1} s | {:.1} s |",
        startups[0].as_secs_f64(),
        startups[1].as_secs_f64(),
        startups[2].as_secs_f64()
    );

    println!(
        "\n## Write throughput of a plain kube-rs client ({} objects per cell, operations per second)",
        args.objects
    );
    let (plane, client) = start_plane(&scratch.path().join("throughput")).await?;
    println!(
        "| concurrency | create custom resource | status patch (server-side apply) | create Secret |\n|---|---|---|---|"
    );
    for (round, concurrency) in args.concurrency.iter().enumerate() {
        let namespace = format!("throughput-{round}");
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace}}))
            .map_err(|e| e.to_string())?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .map_err(|e| e.to_string())?;
        let creates = rate(args.objects, *concurrency, |i| {
            create_workspace(&client, &namespace, i)
        })
        .await?;
        let patches = rate(args.objects, *concurrency, |i| {
            patch_status(&client, &namespace, i)
        })
        .await?;
        let secrets = rate(args.objects, *concurrency, |i| {
            create_secret(&client, &namespace, i)
        })
        .await?;
        println!("| {concurrency} | {creates:.0} | {patches:.0} | {secrets:.0} |");
    }
    drop(plane);
    Ok(())
}

async fn rate<F, Fut>(n: usize, concurrency: usize, op: F) -> Result<f64, String>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), kube::Error>>,
{
    let started = Instant::now();
    let errors = futures::stream::iter(0..n)
        .map(&op)
        .buffer_unordered(concurrency)
        .filter_map(|r| async move { r.err() })
        .collect::<Vec<_>>()
        .await;
    if let Some(error) = errors.first() {
        return Err(format!(
            "{} operations failed; first: {error}",
            errors.len()
        ));
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

async fn create_workspace(client: &Client, namespace: &str, i: usize) -> Result<(), kube::Error> {
    let object: EmbeddedWorkspace = serde_json::from_value(json!({
        "apiVersion": "embedded.airbyte.ai/v1alpha1", "kind": "EmbeddedWorkspace",
        "metadata": {"name": format!("w{i}")}, "spec": {}
    }))
    .expect("static object");
    Api::<EmbeddedWorkspace>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &object)
        .await
        .map(|_| ())
}

async fn patch_status(client: &Client, namespace: &str, i: usize) -> Result<(), kube::Error> {
    let status = json!({
        "apiVersion": "embedded.airbyte.ai/v1alpha1", "kind": "EmbeddedWorkspace",
        "status": {"observedGeneration": 1, "workspaceId": format!("id-{i}"), "conditions": [{
            "type": "Ready", "status": "True", "reason": "TokenIssued", "message": "bench",
            "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1
        }]}
    });
    Api::<EmbeddedWorkspace>::namespaced(client.clone(), namespace)
        .patch_status(
            &format!("w{i}"),
            &PatchParams::apply("bench").force(),
            &Patch::Apply(&status),
        )
        .await
        .map(|_| ())
}

async fn create_secret(client: &Client, namespace: &str, i: usize) -> Result<(), kube::Error> {
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": format!("t{i}")}, "stringData": {"token": "x".repeat(600)}}),
    )
    .expect("static secret");
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &secret)
        .await
        .map(|_| ())
}
