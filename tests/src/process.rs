//! Child processes of a test: the control plane, the operator, the api, MCP servers. Each writes
//! its output to a log file (printed when a test fails to find out why), gets SIGTERM when the test
//! process dies (so an aborted run leaves no strays), and is stopped when dropped.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct ChildProcess {
    pub name: String,
    pub log: PathBuf,
    child: Mutex<Child>,
}

impl ChildProcess {
    /// Starts `command` with its output going to a log file.
    pub fn spawn(name: &str, command: &mut Command) -> Self {
        let log = std::env::temp_dir().join(format!(
            "agentarea-{name}-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let file = std::fs::File::create(&log).expect("create log file");
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone log handle"))
            .stderr(file);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = spawn_from_long_lived_thread(command)
            .unwrap_or_else(|e| panic!("start {name} ({:?}): {e}", command.get_program()));
        Self {
            name: name.to_string(),
            log,
            child: Mutex::new(child),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    /// The exit status, if the process has ended.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.child.lock().unwrap().try_wait().ok().flatten()
    }

    /// Everything the process has written so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits up to `grace` for the process to exit; kills it after that.
    /// Returns the exit status and whether it exited within the grace period.
    pub fn terminate(&self, grace: Duration) -> (ExitStatus, bool) {
        let mut child = self.child.lock().unwrap();
        if let Ok(Some(status)) = child.try_wait() {
            return (status, true);
        }
        // SAFETY: sending a signal to our own child by pid.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let start = Instant::now();
        while start.elapsed() < grace {
            if let Ok(Some(status)) = child.try_wait() {
                return (status, true);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        (child.wait().expect("wait for killed child"), false)
    }

    /// Sends `signal` and returns at once (SIGTERM as a rolling update does, SIGSTOP and
    /// SIGCONT to freeze and thaw a server mid-call).
    pub fn signal(&self, signal: libc::c_int) {
        let child = self.child.lock().unwrap();
        // SAFETY: sending a signal to our own child by pid.
        unsafe {
            libc::kill(child.id() as libc::pid_t, signal);
        }
    }

    /// Waits, without blocking the async runtime, until the process has exited or `limit`
    /// passed; its exit status if it exited.
    pub async fn exited_within(&self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.lock().unwrap().try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.terminate(Duration::from_secs(10));
        if std::thread::panicking() {
            eprintln!("---- output of {} ----\n{}", self.name, self.output());
        }
        // A failing test has printed it above; every run would otherwise leave one more file.
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Linux delivers PR_SET_PDEATHSIG when the *thread* that forked the child exits, and a test's
/// thread ends with the test. Children that outlive one test (the shared control plane) must be
/// forked from a thread that lives as long as the process: this one.
fn spawn_from_long_lived_thread(command: &mut Command) -> std::io::Result<Child> {
    type Request = (*mut Command, mpsc::SyncSender<std::io::Result<Child>>);
    struct SendPtr(Request);
    // SAFETY: the pointer is used only while the caller blocks on the reply below.
    unsafe impl Send for SendPtr {}

    static SPAWNER: std::sync::OnceLock<Mutex<mpsc::Sender<SendPtr>>> = std::sync::OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SendPtr>();
        std::thread::Builder::new()
            .name("agentarea-spawner".into())
            .spawn(move || {
                for SendPtr((command, reply)) in rx {
                    // SAFETY: see SendPtr.
                    let result = unsafe { &mut *command }.spawn();
                    let _ = reply.send(result);
                }
            })
            .expect("spawner thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::sync_channel(1);
    sender
        .lock()
        .unwrap()
        .send(SendPtr((command as *mut Command, reply_tx)))
        .expect("spawner thread alive");
    reply_rx.recv().expect("spawner replies")
}

/// The path of a binary of this workspace (`agentarea-operator`, `agentarea-api`), built by
/// `cargo build --workspace --bins` into the same target directory as the calling test binary
/// (`target/<profile>/deps/<test>`) or benchmark binary (`target/<profile>/<bench>`).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().expect("a binary lives in a directory");
    let profile_dir = if dir.ends_with("deps") {
        dir.parent().expect("target/<profile>/deps")
    } else {
        dir
    };
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` before the tests (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A memory figure of process `pid` from `/proc` (`VmRSS`, `VmHWM` for the peak), in KiB; for
/// the benchmarks.
pub fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process alive");
    status
        .lines()
        .find(|line| line.starts_with(field))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
        .expect("a memory figure")
}
