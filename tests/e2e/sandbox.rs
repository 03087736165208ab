//! The README's run command, exactly as written there, on this machine: the sandbox comes up, the
//! examples settle (all Ready but the deliberately broken one, which is Stalled), and Ctrl-C
//! (SIGTERM here) stops everything it started.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{repo_path, wait_for};

/// The lines of the README's code block between two `marker` comments.
fn readme_block(marker: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let block = readme
        .split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("README marks a block with {marker}"));
    block
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("```"))
        .map(str::to_string)
        .collect()
}

/// The command between the `<!-- run-command -->` markers of the README.
fn readme_run_command() -> String {
    readme_block("<!-- run-command -->").remove(0)
}

/// Every descendant of `pid`, from /proc.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = std::collections::HashMap::<u32, Vec<u32>>::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if let Some(ppid) = fields.get(1).and_then(|p| p.parse::<u32>().ok()) {
            parents.entry(ppid).or_default().push(child);
        }
    }
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(next) = queue.pop() {
        for child in parents.get(&next).cloned().unwrap_or_default() {
            found.push(child);
            queue.push(child);
        }
    }
    found
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The sandbox's output up to its `settled:` line (within 10 minutes); what it prints after is
/// still read, as a terminal would.
async fn lines_until_settled(child: &mut std::process::Child) -> Vec<String> {
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout).lines();
        let mut lines = Vec::new();
        for line in reader.by_ref().map_while(Result::ok) {
            let done = line.starts_with("settled:");
            lines.push(line);
            if done {
                break;
            }
        }
        std::thread::spawn(move || reader.for_each(drop));
        lines
    });
    tokio::time::timeout(Duration::from_secs(600), lines)
        .await
        .expect("the sandbox settled within 10 minutes")
        .unwrap()
}

/// The sandbox's table settled: every example Ready but the broken one, Stalled for its Secret.
fn assert_examples_settled(lines: &[String]) {
    let text = lines.join("\n");
    let last = |object: &str| {
        lines
            .iter()
            .rev()
            .find(|l| l.starts_with(&format!("{object} ")))
            .cloned()
            .unwrap_or_default()
    };
    for object in [
        "EmbeddedWorkspace/tenant-us/main",
        "EmbeddedWorkspace/tenant-eu/main",
        "SourceTemplate/postgres-crm",
        "SourceTemplate/stripe",
        "ConnectionTemplate/tenant-lake",
        "EmbeddedSource/tenant-us/stripe",
        "ClusterAirbyteOrganization/default",
        "ClusterAirbyteOrganization/partner",
        "EmbeddedWorkspace/tenant-partner/main",
        "EmbeddedSource/tenant-partner/demo",
    ] {
        assert!(last(object).contains("ready=True"), "{object}: {text}");
    }
    let broken = last("EmbeddedSource/tenant-eu/broken-missing-secret");
    assert!(
        broken.contains("reason=SecretNotFound")
            && broken.contains("Stalled: Secret tenant-eu/postgres-login not found"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_run_command_brings_up_the_sandbox_and_the_examples_settle() {
    if std::env::var_os("E2E_KUBECONFIG").is_some()
        && std::env::var_os("AIRBYTE_CONTROL_PLANE_BIN").is_none()
    {
        eprintln!(
            "skipped: the sandbox starts the local control plane, whose binaries are not here"
        );
        return;
    }
    let command = readme_run_command();
    assert!(
        command.contains("sandbox") && command.contains("--apply examples/"),
        "{command}"
    );
    let state = tempfile::tempdir().unwrap();
    let mut child = Command::new("sh")
        .args(["-c", &format!("exec {command}")])
        .current_dir(repo_path(""))
        .env("AIRBYTE_SANDBOX_STATE_DIR", state.path())
        .env("CARGO_TERM_COLOR", "never")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = child.id();
    let _stop = StopOnDrop(pid);
    let lines = lines_until_settled(&mut child).await;
    let text = lines.join("\n");
    assert!(
        text.contains(&format!(
            "sandbox ready: export KUBECONFIG={}",
            state.path().join("kubeconfig").display()
        )),
        "{text}"
    );
    assert_examples_settled(&lines);
    let env = std::fs::read_to_string(state.path().join("airbyte.env")).unwrap();
    for key in [
        "AIRBYTE_API_URL=http://127.0.0.1:",
        "AIRBYTE_CLIENT_ID=",
        "AIRBYTE_CLIENT_SECRET=",
        "AIRBYTE_ORGANIZATION_ID=",
    ] {
        assert!(env.contains(key), "{env}");
    }

    // The README's walk-through, command by command, against this sandbox (its state folder in
    // place of `.sandbox/`).
    let script = readme_block("<!-- walkthrough -->")
        .join("\n")
        .replace(".sandbox/", &format!("{}/", state.path().display()));
    let kubectl = crate::support::tools::bin_dir(crate::support::Generation::Current);
    let path = format!(
        "{}:{}",
        kubectl.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = tempfile::tempdir().unwrap();
    let walk = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env("PATH", path)
        .env("HOME", home.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&walk.stdout);
    assert!(
        walk.status.success(),
        "the README walk-through failed:\n{out}\n{}",
        String::from_utf8_lossy(&walk.stderr)
    );
    assert!(
        out.contains("Secret tenant-eu/postgres-login not found"),
        "{out}"
    );
    assert!(out.contains("\"calls\""), "{out}");

    // The README's Helm install, verbatim but for the placeholders, against the sandbox's cluster
    // (the sandbox already created the operator's namespace, so `create namespace` may say so).
    let install = readme_block("<!-- install -->")
        .join("\n")
        .replace("\\\n", " ")
        .replace(
            "kubectl create namespace airbyte-embedded-operator",
            "kubectl create namespace airbyte-embedded-operator || true",
        )
        .replace("YOUR_CLIENT_ID", "sandbox")
        .replace("YOUR_CLIENT_SECRET", "not-a-real-secret")
        .replace(
            "YOUR_ORGANIZATION_UUID",
            "7b0e7c44-9c1e-4c55-a1a1-0f7b2d1c3a11",
        );
    let helm = crate::support::tools::bin_dir(crate::support::Generation::Current);
    let installed = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &format!("{install}\nhelm list -n airbyte-embedded-operator\nhelm uninstall airbyte-embedded-operator -n airbyte-embedded-operator")])
        .current_dir(repo_path(""))
        .env("PATH", format!("{}:{}", helm.display(), std::env::var("PATH").unwrap_or_default()))
        .env("KUBECONFIG", state.path().join("kubeconfig"))
        .env("HOME", home.path())
        .env("HELM_CONFIG_HOME", home.path().join("helm-config"))
        .env("HELM_CACHE_HOME", home.path().join("helm-cache"))
        .env("HELM_DATA_HOME", home.path().join("helm-data"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&installed.stdout);
    assert!(
        installed.status.success(),
        "the README's Helm install failed:\n{out}\n{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    assert!(
        out.contains("deployed") && out.contains("uninstalled"),
        "{out}"
    );

    // Ctrl-C (SIGTERM) stops everything the sandbox started.
    let started = descendants(pid);
    assert!(
        started.len() >= 3,
        "the control plane runs under the sandbox: {started:?}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(-(pid as i32)),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "a clean stop: {status}");
    wait_for(
        "every sandbox process to exit",
        Duration::from_secs(30),
        || {
            let left: Vec<u32> = started.iter().copied().filter(|p| alive(*p)).collect();
            async move { left.is_empty().then_some(()) }
        },
    )
    .await;
}

/// Network interfaces of this network namespace (pod bridges are `aeo<N>`), from
/// `/proc/self/net/dev` (`/sys/class/net` shows the namespace that mounted sysfs).
fn interfaces() -> std::collections::BTreeSet<String> {
    std::fs::read_to_string("/proc/self/net/dev")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, _)| name.trim().to_string())
        .collect()
}

/// Stops the sandbox's process group (SIGTERM: it undoes what it started) if a test ends early.
struct StopOnDrop(u32);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(-(self.0 as i32)),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

/// The sandbox as users run the operator: `--in-cluster` starts the node, loads the image built by
/// scripts/build-image.sh and installs the chart; the examples settle through the operator in its
/// pod; Ctrl-C (SIGTERM) stops everything, the node's bridge included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_cluster_sandbox_runs_the_operator_from_the_chart_and_the_examples_settle() {
    if std::env::var_os("E2E_KUBECONFIG").is_some() {
        eprintln!("skipped: the in-cluster sandbox starts the local control plane and its node");
        return;
    }
    let archive = crate::in_cluster::image_archive();
    let state = tempfile::tempdir().unwrap();
    let helm = crate::support::tools::bin_dir(crate::support::Generation::Current).join("helm");
    let mut child = Command::new(env!("CARGO_BIN_EXE_airbyte-embedded-operator"))
        .args(["sandbox", "--in-cluster", "--apply", "examples/"])
        .arg("--image-archive")
        .arg(&archive)
        .arg("--helm")
        .arg(&helm)
        .current_dir(repo_path(""))
        .env("AIRBYTE_SANDBOX_STATE_DIR", state.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = child.id();
    let _stop = StopOnDrop(pid);
    let lines = lines_until_settled(&mut child).await;
    assert_examples_settled(&lines);
    let kubectl =
        crate::support::tools::bin_dir(crate::support::Generation::Current).join("kubectl");
    let deployment = Command::new(&kubectl)
        .args(["get", "deployment", "-n", "airbyte-embedded-operator", "-o"])
        .arg("jsonpath={.items[0].status.availableReplicas} {.items[0].spec.template.spec.containers[0].image}")
        .env("KUBECONFIG", state.path().join("kubeconfig"))
        .output()
        .unwrap();
    let deployment = String::from_utf8_lossy(&deployment.stdout).to_string();
    assert!(
        deployment.starts_with("1 airbyte-embedded-operator:"),
        "the operator runs from the chart: {deployment}"
    );
    // The node's bridge: `aeo<N>` for its address 10.88.<N>.1.
    let address = Command::new(&kubectl)
        .args(["get", "nodes", "-o"])
        .arg("jsonpath={.items[0].status.addresses[?(@.type==\"InternalIP\")].address}")
        .env("KUBECONFIG", state.path().join("kubeconfig"))
        .output()
        .unwrap();
    let address = String::from_utf8_lossy(&address.stdout).to_string();
    let index = address
        .strip_prefix("10.88.")
        .and_then(|rest| rest.strip_suffix(".1"))
        .unwrap_or_else(|| panic!("the node's address: {address:?}"));
    let bridge = format!("aeo{index}");
    assert!(interfaces().contains(&bridge), "{bridge} missing");

    let started = descendants(pid);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(-(pid as i32)),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "a clean stop: {status}");
    wait_for(
        "every sandbox process to exit",
        Duration::from_secs(30),
        || {
            let left: Vec<u32> = started.iter().copied().filter(|p| alive(*p)).collect();
            async move { left.is_empty().then_some(()) }
        },
    )
    .await;
    assert!(!interfaces().contains(&bridge), "{bridge} left behind");
}
