//! The environment-error corpus: every real output under
//! `fixtures/errors/environment/<kind>/` is recognised as what its `.expect` says
//! (the error's identity, `kind:what`) on the crash path, through the detector as
//! the supervisor uses it, and every look-alike under `not_environment/` is not,
//! on the crash path nor in any block the detector reports while a command runs.

use otorepair::detect::environment::{classify, classify_crash};
use otorepair::detect::{DetectSettings, Detector};
use otorepair::line::{Line, Stream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/errors/environment")
}

fn samples() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for kind in std::fs::read_dir(root()).expect("fixtures/errors/environment exists") {
        let kind = kind.expect("dir entry").path();
        if !kind.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&kind).expect("kind dir") {
            let f = f.expect("dir entry").path();
            if f.extension().is_some_and(|e| e == "txt") {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

fn lines(text: &str, stream: Stream) -> Vec<Line> {
    text.lines().map(|l| Line::new(l, stream)).collect()
}

/// What the supervisor classifies after a crash: the detector's crash block and
/// its last 80 lines.
fn crash_identity(text: &str, stream: Stream) -> Option<String> {
    let mut d = Detector::new(DetectSettings::default()).expect("default settings");
    let now = Instant::now();
    for l in lines(text, stream) {
        d.push(l, now);
    }
    let block = d.crash_block();
    let context = d.context(80);
    classify_crash(block.as_ref().map(|b| b.lines.as_slice()), &context).map(|e| e.identity())
}

/// Blocks the detector reports while the command runs.
fn live_identities(text: &str) -> Vec<String> {
    let mut d = Detector::new(DetectSettings::default()).expect("default settings");
    let mut now = Instant::now();
    let mut found = Vec::new();
    for l in lines(text, Stream::Pty) {
        while let Some(b) = d
            .deadline()
            .filter(|dl| *dl <= now)
            .and_then(|dl| d.poll(dl))
        {
            found.extend(classify(&b.lines).map(|e| e.identity()));
        }
        d.push(l, now);
        now += Duration::from_millis(5);
    }
    while let Some(dl) = d.deadline() {
        if let Some(b) = d.poll(dl) {
            found.extend(classify(&b.lines).map(|e| e.identity()));
        }
    }
    found
}

#[test]
fn environment_corpus() {
    let mut failures = Vec::new();
    let (mut errors, mut lookalikes) = (0, 0);
    for path in samples() {
        let text = std::fs::read_to_string(&path).expect("sample is UTF-8");
        let name = path
            .strip_prefix(root())
            .unwrap_or(&path)
            .display()
            .to_string();
        let got = crash_identity(&text, Stream::Pty);
        if name.starts_with("not_environment/") {
            lookalikes += 1;
            if let Some(id) = got {
                failures.push(format!("{name}: look-alike classified as {id}"));
            }
            for id in live_identities(&text) {
                failures.push(format!("{name}: look-alike block classified as {id}"));
            }
            continue;
        }
        errors += 1;
        let expect = std::fs::read_to_string(path.with_extension("expect"))
            .unwrap_or_else(|_| panic!("{name}: no .expect file"));
        let expect = expect.lines().next().unwrap_or("").trim().to_string();
        if got.as_deref() != Some(expect.as_str()) {
            failures.push(format!("{name}: expected {expect}, got {got:?}"));
        }
        // A server that keeps running: each block it reports tells.
        if name.contains("_live") {
            let live = live_identities(&text);
            if live.is_empty() || live.iter().any(|id| *id != expect) {
                failures.push(format!("{name} (live): expected {expect}, got {live:?}"));
            }
        }
        // Pipe mode: the same lines, as stderr.
        let piped = crash_identity(&text, Stream::Stderr);
        if piped.as_deref() != Some(expect.as_str()) {
            failures.push(format!("{name} (pipe): expected {expect}, got {piped:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} samples failed:\n{}",
        failures.len(),
        errors + lookalikes,
        failures.join("\n")
    );
    assert!(
        errors >= 30 && lookalikes >= 4,
        "{errors} errors, {lookalikes} look-alikes"
    );
}
