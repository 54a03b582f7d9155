//! Spawning Herald's binaries as real processes, and stopping them.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The directory holding the workspace's binaries (`target/<profile>`),
/// found from the running test executable (`target/<profile>/deps/...`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

/// The path of a workspace binary; panics with a clear message when it was
/// not built, or was built before its sources last changed (a stale binary
/// must never pass a test).
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (cargo build --workspace --bins --tests)",
        path.display()
    );
    let root = workspace_root();
    let dirs: Vec<PathBuf> = sources_of(name).iter().map(|d| root.join(d)).collect();
    if let Some(newer) = stale(&path, &dirs) {
        panic!(
            "{} is older than {}: rebuild the binaries (cargo build --workspace --bins --tests)",
            path.display(),
            newer.display()
        );
    }
    path
}

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The workspace folders a binary is built from.
fn sources_of(name: &str) -> &'static [&'static str] {
    match name {
        "herald-gateway" => &["protocol", "bus", "service", "gateway"],
        "herald-router" => &["protocol", "bus", "service", "router"],
        "herald-loadtest" => &["protocol", "service", "loadtest"],
        "herald-mongo-wire" => &["tests/mongo-wire"],
        _ => &[],
    }
}

/// A source newer than `binary`: a file the build reads (Rust, Lua,
/// embedded page assets, manifests) under `dirs`, skipping build output,
/// node modules, fuzz crates, integration tests, benches and examples. `Cargo.lock` is not
/// compared: cargo leaves a binary untouched when a lock change does not
/// concern it, so the lock's time says nothing about that binary.
pub fn stale(binary: &std::path::Path, dirs: &[PathBuf]) -> Option<PathBuf> {
    let built = std::fs::metadata(binary).and_then(|m| m.modified()).ok()?;
    let newer = |p: &std::path::Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t > built)
    };
    let mut stack: Vec<PathBuf> = dirs.to_vec();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name();
            if matches!(
                name.to_str(),
                Some("target" | "node_modules" | "fuzz" | "tests" | "benches" | "examples")
            ) {
                continue;
            }
            let built_from = p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x, "rs" | "lua" | "html" | "js" | "css" | "toml"));
            if p.is_dir() {
                stack.push(p);
            } else if built_from && newer(&p) {
                return Some(p);
            }
        }
    }
    None
}

/// A child process that is killed when dropped, with its stdout lines
/// available on a channel and its stderr kept in a log file.
pub struct Proc {
    /// The child.
    pub child: Child,
    /// Lines the child printed on stdout.
    pub stdout: mpsc::Receiver<String>,
    /// Where stderr goes.
    pub log: PathBuf,
}

impl Proc {
    /// Starts `program` with `args`.
    pub fn spawn(program: &std::path::Path, args: &[String]) -> Self {
        Self::spawn_env(program, args, &[])
    }

    /// Starts `program` with `args` and the environment variables `env`
    /// added to the test's own.
    pub fn spawn_env(program: &std::path::Path, args: &[String], env: &[(&str, &str)]) -> Self {
        let log = std::env::temp_dir().join(format!(
            "herald-{}-{}-{}.log",
            program
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("proc"),
            std::process::id(),
            rand_suffix()
        ));
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let out = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdout: rx,
            log,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a stdout line containing `needle`.
    pub fn wait_line(&self, needle: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "no line containing {needle:?} within {timeout:?}; log:\n{}",
                    self.log_text()
                ),
            }
        }
    }

    /// Sends a signal by name (`TERM`, `KILL`, `STOP`, `CONT`).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Waits for the process to exit, up to `timeout`; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The stderr log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    t ^ (N.fetch_add(1, Ordering::Relaxed) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn touch(p: &std::path::Path, t: SystemTime) {
        let f = std::fs::File::create(p).unwrap();
        f.set_modified(t).unwrap();
    }

    #[test]
    fn a_binary_older_than_a_source_is_stale() {
        let dir = std::env::temp_dir().join(format!("herald-stale-{}", std::process::id()));
        let src = dir.join("crate/src");
        std::fs::create_dir_all(&src).unwrap();
        let now = SystemTime::now();
        let earlier = now - Duration::from_secs(60);
        let bin = dir.join("bin");
        touch(&src.join("lib.rs"), earlier);
        touch(&dir.join("crate/Cargo.toml"), earlier);
        touch(&bin, now);
        let dirs = vec![dir.join("crate")];
        assert_eq!(stale(&bin, &dirs), None);
        touch(&src.join("lib.rs"), now + Duration::from_secs(5));
        assert_eq!(stale(&bin, &dirs), Some(src.join("lib.rs")));
        touch(&src.join("lib.rs"), earlier);
        touch(&dir.join("crate/Cargo.toml"), now + Duration::from_secs(5));
        assert_eq!(stale(&bin, &dirs), Some(dir.join("crate/Cargo.toml")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
