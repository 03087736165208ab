//! `sandbox --in-cluster`: the operator as users run it. The local control plane starts with its
//! node, the image archive built by `scripts/build-image.sh` is loaded into the node's containerd,
//! and the Helm chart is installed with it (helm from `PATH`, or `--helm`), pointed at the
//! simulator on this machine through the node's pod network.

use std::path::Path;
use std::process::Command;

use airbyte_sim::Simulator;
use local_control_plane::ControlPlane;

use super::OPERATOR_NAMESPACE;

/// What the chart install needs.
pub struct InCluster<'a> {
    pub archive: &'a Path,
    pub chart: &'a Path,
    pub helm: &'a Path,
    pub kubeconfig: &'a Path,
}

/// `docker.io/library/NAME:TAG` → (`NAME`, `TAG`), as the chart's `image.repository` and `image.tag`.
fn chart_image(name: &str) -> Option<(String, String)> {
    let short = name.strip_prefix("docker.io/library/").unwrap_or(name);
    let (repository, tag) = short.rsplit_once(':')?;
    Some((repository.to_string(), tag.to_string()))
}

/// Loads the image, exposes the simulator to pods, and installs the chart (waiting until the
/// Deployment is Available); answers the simulator's URL as pods reach it.
pub async fn install(
    plane: &mut ControlPlane,
    sim: &Simulator,
    with: InCluster<'_>,
) -> Result<String, String> {
    let node = plane
        .node_mut()
        .ok_or("--in-cluster needs the local control plane's node")?;
    let names = node.import_image(with.archive).map_err(|e| e.to_string())?;
    let (repository, tag) = names
        .iter()
        .find_map(|name| chart_image(name))
        .ok_or_else(|| format!("{} holds no tagged image", with.archive.display()))?;
    let port = sim.url().port().ok_or("the simulator has no port")?;
    let gateway = node.expose_loopback_port(port).map_err(|e| e.to_string())?;
    let api_url = format!("http://{gateway}:{port}");
    let values = [
        "airbyte.allowInsecureHttp=true".to_string(),
        format!("image.repository={repository}"),
        format!("image.tag={tag}"),
    ];
    let mut command = Command::new(with.helm);
    command
        .args(["upgrade", "--install", "airbyte-embedded-operator"])
        .arg(with.chart)
        .args(["-n", OPERATOR_NAMESPACE, "--wait", "--timeout", "300s"])
        .arg("--kubeconfig")
        .arg(with.kubeconfig);
    for value in &values {
        command.args(["--set", value]);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{}: {e}", with.helm.display()))?;
    if !output.status.success() {
        return Err(format!(
            "helm install failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(api_url)
}

#[cfg(test)]
mod tests {
    #[test]
    fn image_names_become_the_charts_repository_and_tag() {
        assert_eq!(
            super::chart_image("docker.io/library/airbyte-embedded-operator:0.1.0"),
            Some(("airbyte-embedded-operator".into(), "0.1.0".into()))
        );
        assert_eq!(
            super::chart_image("registry.example/aeo:v2"),
            Some(("registry.example/aeo".into(), "v2".into()))
        );
        assert_eq!(super::chart_image("untagged"), None);
    }
}
