//! What the node changes on the machine, recorded as it is changed and undone when it stops:
//! kernel settings the kubelet and the bridge plugin set, the pod bridge, NAT rules towards
//! loopback, iptables chains created while it ran, its cgroups, and the processes of its pods.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::config::Network;

/// Kernel settings the kubelet (`protectKernelDefaults: false`) and the bridge plugin may change.
const SYSCTLS: [&str; 7] = [
    "kernel/panic",
    "kernel/panic_on_oops",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward",
];
const TABLES: [&str; 3] = ["filter", "nat", "mangle"];
const CGROUP_FS: &str = "/sys/fs/cgroup";

/// Runs a host command, its failure an error naming the command and its output.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn chains(table: &str) -> BTreeSet<String> {
    run("iptables", &["-t", table, "-S"])
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.strip_prefix("-N "))
        .map(str::to_string)
        .collect()
}

/// The cgroup hierarchies: every v1 controller folder, or the single v2 tree.
pub fn cgroup_hierarchies() -> Vec<PathBuf> {
    let root = Path::new(CGROUP_FS);
    if root.join("cgroup.controllers").exists() {
        return vec![root.to_path_buf()];
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| p.join("cgroup.procs").exists())
        .collect()
}

pub fn cgroup_v1() -> bool {
    !Path::new(CGROUP_FS).join("cgroup.controllers").exists()
}

/// Changes made so far, undone by [`HostChanges::undo`] in reverse.
#[derive(Debug, Default)]
pub struct HostChanges {
    /// This node's registration among the nodes sharing the kernel settings and folders.
    registration: Option<String>,
    chains_before: Vec<(&'static str, BTreeSet<String>)>,
    nat_rules: Vec<Vec<String>>,
    bridge: Option<String>,
    cgroups: Vec<PathBuf>,
}

impl HostChanges {
    /// Records the chains as they are before the node starts, and joins the nodes sharing the
    /// kernel settings and the mount-point `folders` (see [`super::shared`]).
    pub fn capture(name: &str, folders: &[&str]) -> Result<HostChanges, String> {
        let settings: Vec<PathBuf> = SYSCTLS
            .iter()
            .map(|name| Path::new("/proc/sys").join(name))
            .collect();
        super::shared::join(name, &settings, folders)?;
        let chains_before = TABLES.iter().map(|t| (*t, chains(t))).collect();
        Ok(HostChanges {
            registration: Some(name.to_string()),
            chains_before,
            ..HostChanges::default()
        })
    }

    /// Creates the node's cgroup in every hierarchy (cpuset folders get their parent's CPUs and
    /// memory nodes, without which no task may join them).
    pub fn create_cgroup(&mut self, name: &str) -> Result<(), String> {
        for hierarchy in cgroup_hierarchies() {
            let dir = hierarchy.join(name.trim_start_matches('/'));
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            self.cgroups.push(dir.clone());
            for file in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(value) = std::fs::read_to_string(hierarchy.join(file)) {
                    std::fs::write(dir.join(file), value.trim())
                        .map_err(|e| format!("{}/{file}: {e}", dir.display()))?;
                }
            }
        }
        Ok(())
    }

    /// The pod bridge of the first free network (another node may hold the others), with the
    /// gateway address, accepting traffic for loopback (so NAT rules can send pods to services
    /// that listen on 127.0.0.1 only).
    pub fn create_bridge(&mut self) -> Result<Network, String> {
        let mut last = String::new();
        for index in 0..=u8::MAX {
            let network = Network { index };
            let bridge = network.bridge();
            match run("ip", &["link", "add", &bridge, "type", "bridge"]) {
                Ok(_) => {
                    self.bridge = Some(bridge.clone());
                    let address = format!("{}/{}", network.gateway(), network.prefix_len());
                    run("ip", &["addr", "add", &address, "dev", &bridge])?;
                    run("ip", &["link", "set", &bridge, "up"])?;
                    let route_localnet = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
                    std::fs::write(&route_localnet, "1")
                        .map_err(|e| format!("{route_localnet}: {e}"))?;
                    return Ok(network);
                }
                Err(error) if error.contains("exists") => last = error,
                Err(error) => return Err(error),
            }
        }
        Err(format!("no free pod network: {last}"))
    }

    /// Sends pods' TCP connections for `destination:port` to `127.0.0.1:to_port`.
    pub fn forward_to_loopback(
        &mut self,
        destination: std::net::Ipv4Addr,
        port: u16,
        to_port: u16,
    ) -> Result<(), String> {
        let bridge = self
            .bridge
            .clone()
            .ok_or("the pod bridge is not created yet")?;
        let rule: Vec<String> = [
            "PREROUTING",
            "-i",
            &bridge,
            "-d",
            &format!("{destination}/32"),
            "-p",
            "tcp",
            "--dport",
            &port.to_string(),
            "-j",
            "DNAT",
            "--to-destination",
            &format!("127.0.0.1:{to_port}"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut args: Vec<&str> = vec!["-t", "nat", "-A"];
        args.extend(rule.iter().map(String::as_str));
        run("iptables", &args)?;
        self.nat_rules.push(rule);
        Ok(())
    }

    /// Undoes everything, in reverse; every step is attempted, failures are returned together.
    pub fn undo(&mut self) -> Vec<String> {
        let mut failures = Vec::new();
        for rule in self.nat_rules.drain(..).rev() {
            let mut args: Vec<&str> = vec!["-t", "nat", "-D"];
            args.extend(rule.iter().map(String::as_str));
            failures.extend(run("iptables", &args).err());
        }
        for (table, before) in std::mem::take(&mut self.chains_before) {
            for chain in chains(table).difference(&before) {
                failures.extend(run("iptables", &["-t", table, "-F", chain]).err());
                failures.extend(run("iptables", &["-t", table, "-X", chain]).err());
            }
        }
        if let Some(bridge) = self.bridge.take() {
            failures.extend(run("ip", &["link", "del", &bridge]).err());
        }
        for dir in self.cgroups.drain(..).rev() {
            failures.extend(remove_cgroup_tree(&dir).err());
        }
        if let Some(name) = self.registration.take() {
            failures.extend(super::shared::leave(&name));
        }
        failures
    }
}

fn child_dirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Removes a cgroup and its descendants, deepest first (a cgroup folder is removed with rmdir).
fn remove_cgroup_tree(dir: &Path) -> Result<(), String> {
    for child in child_dirs(dir) {
        remove_cgroup_tree(&child)?;
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("cgroup {}: {e}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Process ids in `dir` and its descendant cgroups.
fn cgroup_pids(dir: &Path) -> Vec<i32> {
    let mut pids: Vec<i32> = std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    for child in child_dirs(dir) {
        pids.extend(cgroup_pids(&child));
    }
    pids
}

/// Kills every process in the node's cgroup (its pods' containers) until none is left.
pub fn kill_cgroup_members(name: &str, within: Duration) -> Result<(), String> {
    let Some(hierarchy) = cgroup_hierarchies().into_iter().next() else {
        return Ok(());
    };
    let dir = hierarchy.join(name.trim_start_matches('/'));
    let deadline = Instant::now() + within;
    loop {
        let pids = cgroup_pids(&dir);
        if pids.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "processes {pids:?} in {} outlived SIGKILL",
                dir.display()
            ));
        }
        for pid in pids {
            // SAFETY: kill(2) with a pid read from the node's own cgroup.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The mount namespace of `pid` (`mnt:[inode]`).
pub fn mount_namespace(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()
}

/// Kills every process in the mount namespace `namespace` but `except` (containerd's shims, which
/// detach from containerd and would otherwise outlive it).
pub fn kill_namespace_members(namespace: &Path, except: u32) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != except && mount_namespace(pid).as_deref() == Some(namespace) {
            // SAFETY: kill(2) with a pid whose mount namespace is the node's own.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}
