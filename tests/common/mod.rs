//! Test harness: runs the built `otorepair` inside a real PTY made by the test, as
//! a user's terminal would, and waits on conditions with generous deadlines.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::pty::{openpty, Winsize};
use nix::sys::termios;

/// Generous: tests must pass on a loaded 2-core machine.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_otorepair"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where otorepair keeps its state during the tests (`XDG_STATE_HOME`), so no
/// test writes into the developer's own `~/.local/state`.
pub fn state_home() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("state-home")
}

/// otorepair's state directory for `workspace`, as `otorepair config` names it.
pub fn state_dir(workspace: &Path) -> PathBuf {
    let out = Command::new(bin())
        .args(["config", "--workspace"])
        .arg(workspace)
        .env("XDG_STATE_HOME", state_home())
        .env_remove("OTOREPAIR")
        .stdin(Stdio::null())
        .output()
        .expect("run otorepair config");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("state "))
        .unwrap_or_else(|| panic!("no state line in `otorepair config`:\n{text}"));
    PathBuf::from(line.trim())
}

/// Runs `otorepair undo` in `workspace` (with the tests' state directory).
pub fn undo(workspace: &Path) -> std::process::Output {
    Command::new(bin())
        .arg("undo")
        .current_dir(workspace)
        .env("XDG_STATE_HOME", state_home())
        .env_remove("OTOREPAIR")
        .stdin(Stdio::null())
        .output()
        .expect("run otorepair undo")
}

/// Runs git in `dir` with a fixed identity and no signing; its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=x", "-c", "user.email=x@example.com"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// PATH with the fake agents first.
pub fn path_with_fakes() -> String {
    format!(
        "{}:{}",
        repo().join("fixtures/agents").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[derive(Default)]
struct Transcript {
    bytes: Vec<u8>,
    closed: bool,
}

/// `otorepair` running on the slave side of a PTY; the test is the terminal.
pub struct Term {
    master: File,
    slave: Option<OwnedFd>,
    child: std::process::Child,
    seen: Arc<(Mutex<Transcript>, Condvar)>,
    before: String,
    pub status: Option<std::process::ExitStatus>,
}

pub struct Opts<'a> {
    pub env: Vec<(&'a str, String)>,
    pub cwd: Option<&'a Path>,
    pub rows: u16,
    pub cols: u16,
}

impl Default for Opts<'_> {
    fn default() -> Self {
        Opts {
            env: Vec::new(),
            cwd: None,
            rows: 24,
            cols: 80,
        }
    }
}

/// The parts of termios a restore must bring back, comparable as text.
pub fn termios_text(fd: &impl std::os::fd::AsFd) -> String {
    let t = termios::tcgetattr(fd).expect("tcgetattr");
    format!(
        "{:?} {:?} {:?} {:?} {:?}",
        t.input_flags, t.output_flags, t.control_flags, t.local_flags, t.control_chars
    )
}

impl Term {
    pub fn spawn(args: &[&str], opts: Opts<'_>) -> Term {
        Self::spawn_program(&bin(), args, opts)
    }

    /// Any program (a shell, say) as the session leader on the PTY, with the
    /// same environment as otorepair gets in [`Term::spawn`].
    pub fn spawn_program(program: &Path, args: &[&str], opts: Opts<'_>) -> Term {
        let ws = Winsize {
            ws_row: opts.rows,
            ws_col: opts.cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&ws), None).expect("openpty");
        let before = termios_text(&pty.slave);
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("TERM", "xterm-256color")
            .env("PATH", path_with_fakes())
            .env("XDG_STATE_HOME", state_home())
            .env_remove("OTOREPAIR")
            .env_remove("NO_COLOR")
            .stdin(Stdio::from(pty.slave.try_clone().unwrap()))
            .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
            .stderr(Stdio::from(pty.slave.try_clone().unwrap()));
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        if let Some(cwd) = opts.cwd {
            cmd.current_dir(cwd);
        }
        // SAFETY: setsid and TIOCSCTTY are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn otorepair");
        drop(cmd);
        let master = File::from(pty.master);
        let seen = Arc::new((Mutex::new(Transcript::default()), Condvar::new()));
        let mut reader = master.try_clone().unwrap();
        let seen2 = seen.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 65536];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let (lock, cv) = &*seen2;
                lock.lock().unwrap().bytes.extend_from_slice(&buf[..n]);
                cv.notify_all();
            }
            let (lock, cv) = &*seen2;
            lock.lock().unwrap().closed = true;
            cv.notify_all();
        });
        Term {
            master,
            slave: Some(pty.slave),
            child,
            seen,
            before,
            status: None,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Everything the terminal has received so far.
    pub fn output(&self) -> Vec<u8> {
        self.seen.0.lock().unwrap().bytes.clone()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output()).into_owned()
    }

    /// Waits until the output contains `needle`; panics with the transcript if not.
    pub fn expect(&self, needle: &str) {
        self.wait_for(|t| t.contains(needle), needle);
    }

    /// Waits until `pred` holds for the output seen so far.
    pub fn wait_for(&self, pred: impl Fn(&str) -> bool, what: &str) {
        let (lock, cv) = &*self.seen;
        let deadline = Instant::now() + DEADLINE;
        let mut guard = lock.lock().unwrap();
        loop {
            if pred(&String::from_utf8_lossy(&guard.bytes)) {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "timed out waiting for {what:?}; terminal shows:\n{}",
                    String::from_utf8_lossy(&guard.bytes)
                );
            }
            guard = cv.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
    }

    /// The terminal's current settings (raw while otorepair runs).
    pub fn termios_now(&self) -> String {
        termios_text(self.slave.as_ref().unwrap())
    }

    /// The terminal's current settings, whole.
    pub fn termios(&self) -> termios::Termios {
        termios::tcgetattr(self.slave.as_ref().unwrap()).unwrap()
    }

    pub fn is_raw(&self) -> bool {
        let t = termios::tcgetattr(self.slave.as_ref().unwrap()).unwrap();
        !t.local_flags.contains(termios::LocalFlags::ICANON)
            && !t.local_flags.contains(termios::LocalFlags::ECHO)
    }

    pub fn resize(&self, rows: u16, cols: u16) {
        let ws = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ on our own master; the kernel signals the foreground group.
        unsafe {
            libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill on our own child.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// Waits for otorepair to exit, checks the terminal settings were restored
    /// exactly, and returns the shell-style exit code.
    pub fn wait(&mut self) -> i32 {
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("otorepair did not exit; terminal shows:\n{}", self.text());
            }
            thread::sleep(Duration::from_millis(10));
        };
        self.status = Some(status);
        let after = self.termios_now();
        assert_eq!(
            self.before,
            after,
            "terminal settings not restored; terminal shows:\n{}",
            self.text()
        );
        // Closing our slave lets the reader see the end of output.
        self.slave = None;
        let (lock, cv) = &*self.seen;
        let mut guard = lock.lock().unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        while !guard.closed && Instant::now() < until {
            guard = cv
                .wait_timeout(guard, Duration::from_millis(100))
                .unwrap()
                .0;
        }
        drop(guard);
        status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
    }
}

impl Drop for Term {
    /// A test that failed before `wait()` must not leave otorepair running.
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// otorepair as the tests run it without a terminal: the fake agents first on
/// `PATH`, the tests' own state home, no stdin; `env` on top.
pub fn piped(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env("PATH", path_with_fakes())
        .env("XDG_STATE_HOME", state_home())
        .env_remove("OTOREPAIR")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs otorepair with pipes (no terminal at all), as CI or a script would.
pub fn run_piped(args: &[&str], env: &[(&str, &str)], cwd: Option<&Path>) -> std::process::Output {
    let mut cmd = piped(args, env);
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    cmd.output().expect("run otorepair")
}

/// A port that was free a moment ago (servers in tests never use a fixed one).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Processes whose command line contains `marker` (to check nothing was left running).
pub fn processes_with(marker: &str) -> Vec<i32> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let state = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let zombie = state
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'));
            if cmdline.contains(marker) && !zombie {
                found.push(pid);
            }
        }
    }
    found
}

/// Waits until no process carries `marker`.
pub fn wait_no_processes(marker: &str) {
    let deadline = Instant::now() + DEADLINE;
    while !processes_with(marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "processes with {marker:?} still running"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `pid` has exited (gone, or a zombie waiting to be reaped).
pub fn pid_gone(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

/// Waits until `pid` has exited; a SIGKILL is delivered asynchronously.
pub fn wait_pid_gone(pid: i32, what: &str) {
    let deadline = Instant::now() + DEADLINE;
    while !pid_gone(pid) {
        assert!(Instant::now() < deadline, "{what} ({pid}) is still running");
        thread::sleep(Duration::from_millis(20));
    }
}

/// The pid a test fixture wrote to `path`.
pub fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid")
}

/// `GET path` on 127.0.0.1:`port` (HTTP/1.0), retried until the server answers;
/// the whole response.
pub fn http_get_path(port: u16, path: &str) -> String {
    use std::net::TcpStream;
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("set a read timeout");
            let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
            stream
                .write_all(request.as_bytes())
                .expect("send the request");
            let mut response = String::new();
            let _ = stream.read_to_string(&mut response);
            return response;
        }
        assert!(Instant::now() < deadline, "server on {port} never answered");
        thread::sleep(Duration::from_millis(20));
    }
}

/// The JSON objects of a JSON-lines file (an agent log, an events file); none if
/// it does not exist yet.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A pipe (read end, write end) whose ends no other test's child inherits
/// (tests run in parallel): close-on-exec from the start where the OS can
/// (`pipe2`), right after it is made elsewhere (macOS).
pub fn cloexec_pipe() -> (OwnedFd, OwnedFd) {
    #[cfg(not(target_vendor = "apple"))]
    {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe")
    }
    #[cfg(target_vendor = "apple")]
    {
        use nix::fcntl::{fcntl, FcntlArg, FdFlag};
        let (read, write) = nix::unistd::pipe().expect("pipe");
        for fd in [&read, &write] {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).expect("close-on-exec");
        }
        (read, write)
    }
}
