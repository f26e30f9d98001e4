//! Helpers for the real-agent tests: install the pinned CLIs once, start a mock of
//! their model API, lay out a workspace and a private HOME, and build the exact
//! argv and environment otorepair uses for each backend.
#![allow(dead_code)]

use otorepair::agent::{BackendKind, BackendSetup, Role};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const SKIP_VAR: &str = "OTOREPAIR_SKIP_REAL_AGENTS";

/// A real CLI run (plus its mock round trips) may take this long on a loaded machine.
pub const RUN_DEADLINE: Duration = Duration::from_secs(120);

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True (after saying so) when the real-agent tests are switched off.
pub fn skip() -> bool {
    if std::env::var(SKIP_VAR).is_ok_and(|v| v == "1") {
        eprintln!("skipping real-agent tests: {SKIP_VAR}=1");
        return true;
    }
    false
}

/// Runs `tests/real_agents/install.sh` once per test process (and under a file lock
/// across processes) and returns the directory holding `claude`, `codex`, `gemini`.
pub fn bin_dir() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let res = BIN.get_or_init(|| {
        // The apps must crash for want of PORT, whatever the developer's shell has.
        std::env::remove_var("PORT");
        let area = repo().join("target/real-agents");
        fs::create_dir_all(&area).map_err(|e| format!("create {}: {e}", area.display()))?;
        let lock = fs::File::create(area.join(".install.lock")).map_err(|e| e.to_string())?;
        // SAFETY: flock on a file we own; released when `lock` is dropped.
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
        let out = Command::new("bash")
            .arg(repo().join("tests/real_agents/install.sh"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run install.sh: {e}"))?;
        drop(lock);
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "tests/real_agents/install.sh failed ({}); set {SKIP_VAR}=1 to skip these tests\n{}{}",
                out.status,
                stdout,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("BIN "))
            .map(PathBuf::from)
            .ok_or_else(|| format!("install.sh printed no BIN line:\n{stdout}"))
    });
    match res {
        Ok(p) => p.clone(),
        Err(e) => panic!("{e}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cli {
    Claude,
    Codex,
    Gemini,
}

impl Cli {
    pub fn name(self) -> &'static str {
        match self {
            Cli::Claude => "claude",
            Cli::Codex => "codex",
            Cli::Gemini => "gemini",
        }
    }

    fn mock_script(self) -> &'static str {
        match self {
            Cli::Claude => "mock_anthropic.py",
            Cli::Codex => "mock_openai.py",
            Cli::Gemini => "mock_gemini.py",
        }
    }
}

/// A model-API mock (a python3 child); killed when dropped.
pub struct Mock {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    pub port: u16,
    pub log: PathBuf,
}

impl Mock {
    pub fn start(cli: Cli, dir: &Path, env: &[(&str, &str)]) -> Mock {
        let log = dir.join("requests.jsonl");
        let mut cmd = Command::new("python3");
        cmd.arg(repo().join("tests/real_agents").join(cli.mock_script()))
            .arg("--log")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                fs::File::create(dir.join("mock.stderr")).unwrap(),
            ));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start the mock (python3)");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let port = first
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("mock printed {first:?}, not `PORT <n>`"));
        Mock {
            child,
            _stdout: stdout,
            port,
            log,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request the mock has seen, in order.
    pub fn requests(&self) -> Vec<Value> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The model requests (not HEAD probes, token counts, ...), as JSON bodies.
    pub fn model_requests(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| {
                let p = r["path"].as_str().unwrap_or("");
                r["method"] == "POST"
                    && (p.starts_with("/v1/messages?")
                        || p == "/v1/messages"
                        || p.ends_with("/responses")
                        || p.contains(":streamGenerateContent"))
            })
            .map(|r| r["body"].clone())
            .collect()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Names of the tools a model request offers, whatever the API's shape.
pub fn tool_names(body: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for t in body["tools"].as_array().into_iter().flatten() {
        if let Some(n) = t["name"].as_str() {
            names.push(n.to_string());
        }
        for d in t["functionDeclarations"].as_array().into_iter().flatten() {
            if let Some(n) = d["name"].as_str() {
                names.push(n.to_string());
            }
        }
    }
    names
}

/// A temp dir holding a copy of an example (`ws/`), a private HOME and CLI config
/// pointing at a running mock.
pub struct Sandbox {
    pub cli: Cli,
    pub dir: tempfile::TempDir,
    pub ws: PathBuf,
    pub home: PathBuf,
    pub mock: Mock,
    pub bin: PathBuf,
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        let name = e.file_name();
        if name == "__pycache__" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(name));
        } else {
            fs::copy(e.path(), to.join(name)).unwrap();
        }
    }
}

impl Sandbox {
    /// `example` is a folder under `examples/`; `mock_env` configures the mock's script.
    pub fn new(cli: Cli, example: &str, mock_env: &[(&str, &str)]) -> Sandbox {
        let bin = bin_dir();
        // OTOREPAIR_KEEP_REAL_AGENTS_TMP=1 keeps the temp dir (mock log, HOME) for a look.
        let keep = std::env::var("OTOREPAIR_KEEP_REAL_AGENTS_TMP").is_ok_and(|v| v == "1");
        let dir = tempfile::Builder::new()
            .prefix(&format!("otorepair-real-{}-", cli.name()))
            .disable_cleanup(keep)
            .tempdir()
            .unwrap();
        if keep {
            eprintln!("real-agent sandbox kept: {}", dir.path().display());
        }
        let ws = dir.path().join("ws");
        copy_dir(&repo().join("examples").join(example), &ws);
        let home = dir.path().join("home");
        fs::create_dir_all(&home).unwrap();
        // A relative MOCK_TARGET_FILE (the mock's fallback when the prompt carries no
        // absolute traceback path) is taken relative to the workspace.
        let target;
        let mut mock_env = mock_env.to_vec();
        if let Some(e) = mock_env.iter_mut().find(|(k, _)| *k == "MOCK_TARGET_FILE") {
            target = ws.join(e.1).display().to_string();
            e.1 = &target;
        }
        let mock = Mock::start(cli, dir.path(), &mock_env);
        match cli {
            Cli::Claude => {}
            Cli::Codex => {
                // Codex honours a default provider from CODEX_HOME/config.toml: no -c needed.
                let codex_home = dir.path().join("codex-home");
                fs::create_dir_all(&codex_home).unwrap();
                fs::write(
                    codex_home.join("config.toml"),
                    format!(
                        "model_provider = \"mock\"\nmodel = \"mock-model\"\n\n\
                         [model_providers.mock]\nname = \"mock\"\nbase_url = \"{}/v1\"\n\
                         wire_api = \"responses\"\nenv_key = \"MOCK_KEY\"\n",
                        mock.url()
                    ),
                )
                .unwrap();
            }
            Cli::Gemini => {
                // model.name skips the router's classifier call (otorepair passes no -m);
                // folderTrust off lets auto_edit stand even without --skip-trust.
                fs::create_dir_all(home.join(".gemini")).unwrap();
                fs::write(
                    home.join(".gemini/settings.json"),
                    r#"{
  "model": {"name": "gemini-2.5-flash"},
  "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": false}},
  "general": {"disableAutoUpdate": true, "disableUpdateNag": true},
  "privacy": {"usageStatisticsEnabled": false},
  "telemetry": {"enabled": false}
}
"#,
                )
                .unwrap();
            }
        }
        Sandbox {
            cli,
            dir,
            ws,
            home,
            mock,
            bin,
        }
    }

    /// The environment the CLI (directly, or through otorepair) runs with.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let home = self.home.display().to_string();
        let mut env = vec![
            (
                "PATH",
                format!(
                    "{}:{}",
                    self.bin.display(),
                    std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
                ),
            ),
            ("HOME", home.clone()),
            ("XDG_CONFIG_HOME", format!("{home}/.config")),
            ("XDG_CACHE_HOME", format!("{home}/.cache")),
            ("XDG_DATA_HOME", format!("{home}/.local/share")),
            ("ONESHOT", "1".into()),
        ];
        let url = self.mock.url();
        match self.cli {
            Cli::Claude => env.extend([
                ("ANTHROPIC_BASE_URL", url),
                ("ANTHROPIC_API_KEY", "x".into()),
                ("CLAUDE_CONFIG_DIR", format!("{home}/.claude")),
                ("DISABLE_TELEMETRY", "1".into()),
                ("DISABLE_AUTOUPDATER", "1".into()),
                ("DISABLE_ERROR_REPORTING", "1".into()),
                ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
                ("CLAUDE_CODE_MAX_RETRIES", "2".into()),
                ("CLAUDE_CODE_USE_BEDROCK", "0".into()),
                ("CLAUDE_CODE_USE_VERTEX", "0".into()),
            ]),
            Cli::Codex => env.extend([
                (
                    "CODEX_HOME",
                    self.dir.path().join("codex-home").display().to_string(),
                ),
                ("MOCK_KEY", "x".into()),
            ]),
            Cli::Gemini => env.extend([
                ("GOOGLE_GEMINI_BASE_URL", url),
                ("GEMINI_API_KEY", "x".into()),
                ("GOOGLE_GENAI_USE_VERTEXAI", "false".into()),
                ("GOOGLE_GENAI_USE_GCA", "false".into()),
            ]),
        }
        env
    }

    /// The argv otorepair's backend table gives the fix run (without the
    /// executable): taken from the table itself, so these tests prove the real one.
    pub fn fix_args(&self) -> Vec<String> {
        self.table_args(Role::Fix)
    }

    /// The argv otorepair's backend table gives the triage run.
    pub fn triage_args(&self) -> Vec<String> {
        self.table_args(Role::Triage)
    }

    fn table_args(&self, role: Role) -> Vec<String> {
        let kind = match self.cli {
            Cli::Claude => BackendKind::Claude,
            Cli::Codex => BackendKind::Codex,
            Cli::Gemini => BackendKind::Gemini,
        };
        let setup = BackendSetup {
            kind,
            workspace: self.ws.clone(),
            ..BackendSetup::default()
        };
        let mut argv = setup.command(role).expect("a built-in backend").argv;
        argv.remove(0);
        argv
    }

    /// What `python3 <script>` prints when it crashes in the workspace.
    pub fn crash_output(&self, script: &str) -> String {
        let out = Command::new("python3")
            .arg(script)
            .current_dir(&self.ws)
            .env_remove("PORT")
            .env_remove("ONESHOT")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{script} was expected to crash");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// A fix prompt shaped like otorepair's, with the traceback (absolute paths).
    pub fn fix_prompt(&self, script: &str) -> String {
        format!(
            "The command `python3 {script}` crashed (exit status 1) in {ws}.\n\
             Find the cause in the project's source and fix it with a minimal change.\n\n\
             Error summary:\nKeyError: 'PORT'\n\n\
             Captured output:\n````text\n{out}````\n\n\
             Constraints:\n- Only edit files inside {ws}.\n- Do not run the program.\n",
            ws = self.ws.display(),
            out = self.crash_output(script),
        )
    }

    /// Runs the installed CLI directly (no otorepair), prompt on stdin, cwd = ws,
    /// with nothing of the caller's environment but [`Sandbox::env`].
    pub fn run_cli(&self, args: &[String], prompt: &str) -> RunOutput {
        let mut cmd = Command::new(self.bin.join(self.cli.name()));
        cmd.args(args)
            .current_dir(&self.ws)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn the real CLI");
        let mut stdin = child.stdin.take().unwrap();
        let prompt = prompt.to_string();
        let feeder = thread::spawn(move || {
            let _ = stdin.write_all(prompt.as_bytes());
        });
        let drain = |mut r: Box<dyn Read + Send>| {
            thread::spawn(move || {
                let mut s = Vec::new();
                let _ = r.read_to_end(&mut s);
                String::from_utf8_lossy(&s).into_owned()
            })
        };
        let out_t = drain(Box::new(child.stdout.take().unwrap()));
        let err_t = drain(Box::new(child.stderr.take().unwrap()));
        let deadline = Instant::now() + RUN_DEADLINE;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} did not finish in {RUN_DEADLINE:?}; stderr:\n{}",
                    self.cli.name(),
                    err_t.join().unwrap()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        let _ = feeder.join();
        RunOutput {
            code: status.code().unwrap_or(-1),
            stdout: out_t.join().unwrap(),
            stderr: err_t.join().unwrap(),
        }
    }

    pub fn file(&self, name: &str) -> String {
        fs::read_to_string(self.ws.join(name)).unwrap()
    }

    /// For failure messages: the mock's requests in short form.
    pub fn request_summary(&self) -> String {
        self.mock
            .requests()
            .iter()
            .map(|r| {
                format!(
                    "{} {} model={} tools={:?}",
                    r["method"].as_str().unwrap_or(""),
                    r["path"].as_str().unwrap_or(""),
                    r["body"]["model"].as_str().unwrap_or("-"),
                    tool_names(&r["body"])
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Debug)]
pub struct RunOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl RunOutput {
    /// The stdout lines that parse as JSON objects.
    pub fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(Value::is_object)
            .collect()
    }
}

/// The terminal transcript as plain text: escape sequences removed, CRs dropped.
pub fn plain(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&strip_ansi_escapes::strip(bytes)).replace('\r', "")
}

/// A free TCP port on 127.0.0.1 (for the example server).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET http://127.0.0.1:port/ with a short timeout; the status line, if any.
pub fn http_get(port: u16) -> Option<String> {
    use std::net::TcpStream;
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.lines().next().map(str::to_string)
}
