//! Host state that several nodes on one machine share: kernel settings (the kubelet sets some of
//! them) and the mount-point folders the nodes' private tmpfs mounts need. The first node to start
//! records the settings as they were and creates the missing folders; the last node to stop puts
//! the settings back and removes those folders. Nodes register under a lock file in
//! `/run/airbyte-embedded-operator/`, in one group per network namespace (`ip_forward` is
//! per-namespace); a registration whose process is gone no longer counts.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

const STATE_DIR: &str = "/run/airbyte-embedded-operator";

/// The group of this process's network namespace.
fn group_dir() -> PathBuf {
    let namespace = std::fs::read_link("/proc/self/ns/net")
        .map(|link| link.display().to_string())
        .unwrap_or_default();
    let id: String = namespace.chars().filter(char::is_ascii_digit).collect();
    Path::new(STATE_DIR).join(format!("nodes-{id}"))
}

/// An exclusive lock on the group, held while it lives.
struct Locked {
    dir: PathBuf,
    _file: File,
}

fn lock() -> Result<Locked, String> {
    let dir = group_dir();
    std::fs::create_dir_all(dir.join("live")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file =
        File::create(dir.join("lock")).map_err(|e| format!("{}/lock: {e}", dir.display()))?;
    // SAFETY: flock on a descriptor this function owns; released when the file closes.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(format!(
            "lock {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(Locked { dir, _file: file })
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

impl Locked {
    /// Registered nodes whose process still runs (registrations of dead processes are removed).
    fn live(&self) -> Vec<String> {
        let entries = std::fs::read_dir(self.dir.join("live"))
            .into_iter()
            .flatten()
            .flatten();
        let mut live = Vec::new();
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name.split('-').next().and_then(|p| p.parse().ok());
            if pid.is_some_and(alive) {
                live.push(name);
            } else {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        live
    }

    fn originals(&self) -> PathBuf {
        self.dir.join("originals")
    }
}

/// Registers node `name` (`<pid>-<n>`). The first live node records `settings` (paths under
/// /proc/sys) and creates the missing `folders`.
pub fn join(name: &str, settings: &[PathBuf], folders: &[&str]) -> Result<(), String> {
    let locked = lock()?;
    if locked.live().is_empty() {
        let mut record = String::new();
        for path in settings {
            if let Ok(value) = std::fs::read_to_string(path) {
                record.push_str(&format!("set {} {}\n", path.display(), value.trim()));
            }
        }
        for folder in folders {
            if !Path::new(folder).exists() {
                std::fs::create_dir_all(folder).map_err(|e| format!("{folder}: {e}"))?;
                record.push_str(&format!("dir {folder}\n"));
            }
        }
        std::fs::write(locked.originals(), record).map_err(|e| e.to_string())?;
    }
    File::create(locked.dir.join("live").join(name)).map_err(|e| e.to_string())?;
    Ok(())
}

/// Unregisters node `name`; the last live node restores the settings and removes the folders.
pub fn leave(name: &str) -> Vec<String> {
    let locked = match lock() {
        Ok(locked) => locked,
        Err(error) => return vec![error],
    };
    let _ = std::fs::remove_file(locked.dir.join("live").join(name));
    if !locked.live().is_empty() {
        return Vec::new();
    }
    let record = std::fs::read_to_string(locked.originals()).unwrap_or_default();
    let mut failures = Vec::new();
    for line in record.lines() {
        let mut words = line.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("set"), Some(path), Some(value)) => {
                let now = std::fs::read_to_string(path).unwrap_or_default();
                if now.trim() != value
                    && let Err(e) = std::fs::write(path, value)
                {
                    failures.push(format!("{path}: {e}"));
                }
            }
            (Some("dir"), Some(folder), None) => {
                let _ = std::fs::remove_dir(folder);
            }
            _ => {}
        }
    }
    // Nothing of the group is left behind (a node starting now waits on the lock, then starts a
    // new group).
    let _ = std::fs::remove_dir_all(&locked.dir);
    let _ = std::fs::remove_dir(STATE_DIR);
    failures
}
