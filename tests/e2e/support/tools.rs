//! Real `kubectl` and `helm` of two generations, installed by `scripts/get-k8s-tools.sh`
//! into `.tools/<generation>/bin`, each run with its own discovery cache and helm homes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// helm 4 + kubectl 1.35, or helm 3 + kubectl 1.32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    Current,
    Previous,
}

impl Generation {
    pub const ALL: [Generation; 2] = [Generation::Current, Generation::Previous];

    fn helm_major(self) -> &'static str {
        match self {
            Generation::Current => "4",
            Generation::Previous => "3",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Generation::Current => "helm4-kubectl1.35",
            Generation::Previous => "helm3-kubectl1.32",
        }
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

static INSTALL: Mutex<()> = Mutex::new(());

/// The folder holding `kubectl` and `helm` of `generation`, installed on first use.
pub fn bin_dir(generation: Generation) -> PathBuf {
    let dest = repo_root()
        .join(".tools")
        .join(generation.label())
        .join("bin");
    let _guard = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    if dest.join("kubectl").is_file() && dest.join("helm").is_file() {
        return dest;
    }
    let script = repo_root().join("scripts/get-k8s-tools.sh");
    let output = Command::new("bash")
        .arg(&script)
        .env("DEST", &dest)
        .env("HELM_MAJOR", generation.helm_major())
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|error| panic!("running {}: {error}", script.display()));
    assert!(
        output.status.success(),
        "installing {} failed: {}",
        generation.label(),
        String::from_utf8_lossy(&output.stderr)
    );
    dest
}

/// One test's view of the tools: its own caches, the shared kubeconfig.
pub struct Tools {
    pub generation: Generation,
    pub kubeconfig: PathBuf,
    home: PathBuf,
}

/// A finished command.
pub struct Run {
    pub output: Output,
    pub line: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.output.status.success()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Panics with the command, stdout and stderr unless it succeeded.
    pub fn success(self) -> Run {
        assert!(
            self.ok(),
            "`{}` failed ({}):\nstdout: {}\nstderr: {}",
            self.line,
            self.output.status,
            self.stdout(),
            self.stderr()
        );
        self
    }

    pub fn failure(self) -> Run {
        assert!(
            !self.ok(),
            "`{}` should have failed:\nstdout: {}",
            self.line,
            self.stdout()
        );
        self
    }
}

impl Tools {
    pub fn new(generation: Generation, kubeconfig: &Path, home: &Path) -> Tools {
        std::fs::create_dir_all(home).expect("tool home");
        Tools {
            generation,
            kubeconfig: kubeconfig.to_path_buf(),
            home: home.to_path_buf(),
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(bin_dir(self.generation).join(program));
        command
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.home.join("kube-cache"))
            .env("HELM_CONFIG_HOME", self.home.join("helm-config"))
            .env("HELM_CACHE_HOME", self.home.join("helm-cache"))
            .env("HELM_DATA_HOME", self.home.join("helm-data"))
            .env("HOME", &self.home);
        command
    }

    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Run {
        use std::io::Write;
        let line = format!("{program} {}", args.join(" "));
        let mut command = self.command(program);
        command.args(args);
        let output = match stdin {
            None => command.output(),
            Some(text) => {
                command
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                let mut child = command.spawn().expect("spawn");
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(text.as_bytes())
                    .expect("write stdin");
                child.wait_with_output()
            }
        }
        .unwrap_or_else(|error| panic!("`{line}`: {error}"));
        Run { output, line }
    }

    pub fn kubectl(&self, args: &[&str]) -> Run {
        self.run("kubectl", args, None)
    }

    /// `kubectl <args> -f -` with `manifest` on stdin.
    pub fn kubectl_stdin(&self, args: &[&str], manifest: &str) -> Run {
        self.run("kubectl", args, Some(manifest))
    }

    pub fn helm(&self, args: &[&str]) -> Run {
        self.run("helm", args, None)
    }
}
