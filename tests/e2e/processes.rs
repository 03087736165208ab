//! The `control-plane` subcommand leaves no process behind: not when interrupted, and not when it
//! is killed outright (its children die with it).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::wait_for;

/// Children of `pid`, from /proc.
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if fields.get(1).and_then(|ppid| ppid.parse::<u32>().ok()) == Some(pid) {
            found.push(child);
        }
    }
    found
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

async fn start_and_stop(signal: nix::sys::signal::Signal) {
    if std::env::var_os("E2E_KUBECONFIG").is_some() {
        eprintln!("skipped: checks the local control plane's processes (E2E_KUBECONFIG is set)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_airbyte-embedded-operator"))
        .args(["control-plane", "--state-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.starts_with("control plane ready"));
        // Keep reading what follows, as a terminal would.
        std::thread::spawn(move || lines.for_each(drop));
        ready
    })
    .await
    .unwrap()
    .expect("the control plane became ready");
    assert!(
        line.contains(&format!(
            "export KUBECONFIG={}",
            dir.path().join("kubeconfig").display()
        )),
        "{line}"
    );
    let pid = child.id();
    let spawned = children(pid);
    assert_eq!(
        spawned.len(),
        3,
        "etcd, kube-apiserver and kube-controller-manager: {spawned:?}"
    );

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    if signal == nix::sys::signal::Signal::SIGTERM {
        assert!(status.success(), "a SIGTERM is a clean stop: {status}");
    }
    wait_for(
        "the control plane processes to exit",
        Duration::from_secs(20),
        || {
            let left: Vec<u32> = spawned.iter().copied().filter(|p| alive(*p)).collect();
            async move { left.is_empty().then_some(()) }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_interrupted_with_sigterm_leaves_no_process() {
    start_and_stop(nix::sys::signal::Signal::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_killed_outright_leaves_no_process() {
    start_and_stop(nix::sys::signal::Signal::SIGKILL).await;
}
