//! Shell integration: each snippet from `otorepair init SHELL` runs in a real
//! interactive shell (bash always; zsh and fish when installed) with a fake
//! `otorepair` first on PATH that records its arguments and then runs the command,
//! so the tests see exactly what the wrapper passed. Also the subcommands'
//! dispatch and the completion scripts, with the real binary.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{bin, path_with_fakes, run_piped};

/// Records `[arg]...` to $LOG, then runs the command after `--` as otorepair
/// would: with OTOREPAIR=1, its exit status passed through.
const FAKE_OTOREPAIR: &str = r#"#!/bin/sh
printf '[%s]' "$@" >> "$LOG"
echo >> "$LOG"
[ "$1" = "--" ] && shift
OTOREPAIR=1 exec "$@"
"#;

/// Prints whether it runs under otorepair and its arguments, then exits 7.
const FAKE_CMD: &str = r#"#!/bin/sh
printf 'fakecmd(%s):' "${OTOREPAIR-}"
printf '[%s]' "$@"
echo
exit 7
"#;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        for (sub, name, text) in [
            ("fake", "otorepair", FAKE_OTOREPAIR),
            ("cmds", "fakecmd", FAKE_CMD),
        ] {
            let d = dir.path().join(sub);
            fs::create_dir_all(&d).unwrap();
            let f = d.join(name);
            fs::write(&f, text).unwrap();
            fs::set_permissions(&f, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::create_dir_all(dir.path().join("home")).unwrap();
        Fixture { dir }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    fn logged(&self) -> String {
        fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// PATH with the fake otorepair (unless `with_otorepair` is false) and fakecmd.
    fn path(&self, with_otorepair: bool) -> String {
        let p = self.dir.path();
        let sys = "/usr/local/bin:/usr/bin:/bin";
        if with_otorepair {
            format!(
                "{}:{}:{sys}",
                p.join("fake").display(),
                p.join("cmds").display()
            )
        } else {
            format!("{}:{sys}", p.join("cmds").display())
        }
    }

    /// Runs `script` in `shell` (interactive unless told), in a clean environment.
    fn run(&self, shell: Sh, interactive: bool, script: &str, env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(shell.name());
        cmd.args(shell.flags());
        if interactive {
            cmd.arg("-i");
        }
        cmd.arg("-c")
            .arg(script)
            .env_clear()
            .env("PATH", self.path(true))
            .env("HOME", self.dir.path().join("home"))
            .env("TERM", "dumb")
            .env("LOG", self.log())
            .env("OTOREPAIR_REAL", bin())
            .env("OTOREPAIR_WRAP", "fakecmd")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run the shell");
        let run = Run::from(out, self.logged());
        let _ = fs::remove_file(self.log());
        run
    }
}

struct Run {
    stdout: String,
    stderr: String,
    log: String,
}

impl Run {
    fn from(out: Output, log: String) -> Run {
        Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            log,
        }
    }

    fn context(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}\nlog:\n{}",
            self.stdout, self.stderr, self.log
        )
    }
}

#[derive(Debug, Clone, Copy)]
enum Sh {
    Bash,
    Zsh,
    Fish,
}

impl Sh {
    fn name(self) -> &'static str {
        match self {
            Sh::Bash => "bash",
            Sh::Zsh => "zsh",
            Sh::Fish => "fish",
        }
    }

    /// Flags that keep the user's own rc files out.
    fn flags(self) -> &'static [&'static str] {
        match self {
            Sh::Bash => &["--norc", "--noprofile"],
            Sh::Zsh => &["-f"],
            Sh::Fish => &["--no-config"],
        }
    }

    /// Evaluates the snippet as the docs tell users to.
    fn eval(self) -> String {
        match self {
            Sh::Bash | Sh::Zsh => format!("eval \"$(\"$OTOREPAIR_REAL\" init {})\"", self.name()),
            Sh::Fish => "$OTOREPAIR_REAL init fish | source".to_string(),
        }
    }

    fn status(self) -> &'static str {
        match self {
            Sh::Bash | Sh::Zsh => "$?",
            Sh::Fish => "$status",
        }
    }

    fn export(self, name: &str, value: &str) -> String {
        match self {
            Sh::Bash | Sh::Zsh => format!("export {name}='{value}'"),
            Sh::Fish => format!("set -gx {name} '{value}'"),
        }
    }

    fn installed(self) -> bool {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {} >/dev/null", self.name()))
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// The shells to test: bash must be there; zsh and fish are tested when installed.
fn shells() -> Vec<Sh> {
    assert!(Sh::Bash.installed(), "bash is required by these tests");
    let mut all = vec![Sh::Bash];
    for sh in [Sh::Zsh, Sh::Fish] {
        if sh.installed() {
            all.push(sh);
        } else {
            eprintln!("{} not installed: its snippet is not tested", sh.name());
        }
    }
    all
}

#[test]
fn wrapped_command_runs_under_otorepair_with_arguments_and_status_intact() {
    let fx = Fixture::new();
    for sh in shells() {
        // The same quoting means the same words in all three shells.
        let script = format!(
            "{}\nfakecmd 'a b' 'c\"d' '' '*' \"x'y\"\necho status={}",
            sh.eval(),
            sh.status()
        );
        let r = fx.run(sh, true, &script, &[]);
        let ctx = format!("{}: {}", sh.name(), r.context());
        assert_eq!(r.log, "[--][fakecmd][a b][c\"d][][*][x'y]\n", "{ctx}");
        assert!(
            r.stdout.contains("fakecmd(1):[a b][c\"d][][*][x'y]\n"),
            "{ctx}"
        );
        assert!(r.stdout.contains("status=7\n"), "{ctx}");
    }
}

#[test]
fn command_builtin_bypasses_the_wrapper() {
    let fx = Fixture::new();
    for sh in shells() {
        let script = format!(
            "{}\ncommand fakecmd x\necho status={}",
            sh.eval(),
            sh.status()
        );
        let r = fx.run(sh, true, &script, &[]);
        let ctx = format!("{}: {}", sh.name(), r.context());
        assert_eq!(r.log, "", "{ctx}");
        assert!(r.stdout.contains("fakecmd():[x]\n"), "{ctx}");
        assert!(r.stdout.contains("status=7\n"), "{ctx}");
    }
}

#[test]
fn never_wraps_inside_otorepair() {
    let fx = Fixture::new();
    for sh in shells() {
        // Set when the snippet is evaluated (a shell started by otorepair)...
        let script = format!("{}\nfakecmd a", sh.eval());
        let r = fx.run(sh, true, &script, &[("OTOREPAIR", "1")]);
        let ctx = format!("{}: {}", sh.name(), r.context());
        assert_eq!(r.log, "", "{ctx}");
        assert!(r.stdout.contains("fakecmd(1):[a]\n"), "{ctx}");
        // ...or only later, when the wrapped command runs.
        let script = format!("{}\n{}\nfakecmd b", sh.eval(), sh.export("OTOREPAIR", "1"));
        let r = fx.run(sh, true, &script, &[]);
        let ctx = format!("{}: {}", sh.name(), r.context());
        assert_eq!(r.log, "", "{ctx}");
        assert!(r.stdout.contains("fakecmd(1):[b]\n"), "{ctx}");
    }
}

#[test]
fn never_wraps_in_scripts() {
    let fx = Fixture::new();
    for sh in shells() {
        // A non-interactive shell that evaluates the snippet anyway.
        let script = format!("{}\nfakecmd a", sh.eval());
        let r = fx.run(sh, false, &script, &[]);
        let ctx = format!("{}: {}", sh.name(), r.context());
        assert_eq!(r.log, "", "{ctx}");
        assert!(r.stdout.contains("fakecmd():[a]\n"), "{ctx}");
        // A script started from a wrapped interactive shell.
        let child = format!("{} {} -c 'fakecmd b'", sh.name(), sh.flags().join(" "));
        let script = format!("{}\n{child}", sh.eval());
        let r = fx.run(sh, true, &script, &[]);
        let ctx = format!("{}: {}", sh.name(), r.context());
        assert_eq!(r.log, "", "{ctx}");
        assert!(r.stdout.contains("fakecmd():[b]\n"), "{ctx}");
    }
}

#[test]
fn bad_names_are_skipped_with_a_warning() {
    let fx = Fixture::new();
    for sh in shells() {
        let script = format!("{}\nfakecmd ok\necho after", sh.eval());
        let wrap = "./bad  if a/b * -x fakecmd";
        let r = fx.run(sh, true, &script, &[("OTOREPAIR_WRAP", wrap)]);
        let ctx = format!("{}: {}", sh.name(), r.context());
        assert_eq!(r.log, "[--][fakecmd][ok]\n", "{ctx}");
        assert!(r.stdout.contains("after\n"), "{ctx}");
        for bad in ["./bad", "if", "a/b", "*", "-x"] {
            assert!(
                r.stderr.contains(&format!("not wrapping '{bad}'")),
                "{bad}: {ctx}"
            );
        }
    }
}

#[test]
fn evaluating_again_follows_a_changed_list() {
    let fx = Fixture::new();
    for sh in shells() {
        let script = format!(
            "{eval}\nfakecmd one\n{}\n{eval}\nfakecmd two",
            sh.export("OTOREPAIR_WRAP", "other"),
            eval = sh.eval()
        );
        let r = fx.run(sh, true, &script, &[]);
        let ctx = format!("{}: {}", sh.name(), r.context());
        assert_eq!(r.log, "[--][fakecmd][one]\n", "{ctx}");
        assert!(r.stdout.contains("fakecmd():[two]\n"), "{ctx}");
    }
}

#[test]
fn missing_otorepair_runs_the_command_plainly() {
    let fx = Fixture::new();
    for sh in shells() {
        // The snippet comes from the real binary by path; only the wrapper's
        // otorepair is missing from PATH.
        let script = format!("{}\nfakecmd x\necho status={}", sh.eval(), sh.status());
        let r = fx.run(sh, true, &script, &[("PATH", &fx.path(false))]);
        let ctx = format!("{}: {}", sh.name(), r.context());
        assert!(r.stdout.contains("fakecmd():[x]\n"), "{ctx}");
        assert!(r.stdout.contains("status=7\n"), "{ctx}");
        assert!(r.stderr.contains("otorepair: not found on PATH"), "{ctx}");
    }
}

#[test]
fn shell_files_are_what_init_prints() {
    for sh in ["bash", "zsh", "fish"] {
        let out = run_piped(&["init", sh], &[], None);
        assert_eq!(out.status.code(), Some(0));
        let file = common::repo().join(format!("shell/otorepair.{sh}"));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            fs::read_to_string(file).unwrap()
        );
    }
}

#[test]
fn unknown_shell_is_a_usage_error() {
    for sub in ["init", "completions"] {
        let out = run_piped(&[sub, "tcsh"], &[], None);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("otorepair: error: unknown shell 'tcsh'"),
            "{err}"
        );
        assert!(err.contains("bash, zsh, fish"), "{err}");
        assert!(out.stdout.is_empty());
        let out = run_piped(&[sub], &[], None);
        assert_eq!(out.status.code(), Some(2), "{sub} without a shell");
    }
}

#[test]
fn completions_cover_the_flags_and_load_in_bash() {
    for sh in ["bash", "zsh", "fish"] {
        let out = run_piped(&["completions", sh], &[], None);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("--backend") || text.contains("-l backend"),
            "{sh}: {text}"
        );
    }
    let script = format!(
        "source <(\"{}\" completions bash) && complete -p otorepair",
        bin().display()
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &script])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("otorepair"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Subcommands are recognised only first: after `--` they are programs.
#[test]
fn dashes_run_a_program_named_like_a_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["init", "completions"] {
        let prog = dir.path().join(name);
        fs::write(&prog, format!("#!/bin/sh\necho ran-{name} \"$@\"\n")).unwrap();
        fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", dir.path().display(), path_with_fakes());
    for name in ["init", "completions"] {
        let out = run_piped(
            &["--no-pty", "--dry-run", "--", name, "bash"],
            &[("PATH", &path)],
            Some(Path::new(dir.path())),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("ran-{name} bash")),
            "{name}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0));
    }
}

#[test]
fn man_page_is_generated_from_the_flags() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_otorepair"))
        .arg("man")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH otorepair 1"), "{page}");
    assert!(
        page.contains("backend") && page.contains("max\\-attempts"),
        "{page}"
    );
}
