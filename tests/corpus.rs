//! Table-driven test over `fixtures/errors/`: every error sample yields exactly one
//! block with its expected summary (through `poll` and through `crash_block`), every
//! benign sample yields nothing, and the fingerprint pairs hold.

use otorepair::detect::{DetectSettings, Detector, ErrorBlock};
use otorepair::line::{Line, Stream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/errors")
}

/// Folders under `fixtures/errors/` that are not detector samples: the programs
/// that made them, and environment errors (port in use, ...), which have their
/// own test beside `src/detect/environment.rs`.
const NOT_SAMPLES: &[&str] = &["gen", "environment"];

/// Every `*.txt` one level under `fixtures/errors/` (ecosystem folders).
fn samples() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for eco in std::fs::read_dir(root()).expect("fixtures/errors exists") {
        let eco = eco.expect("dir entry").path();
        if !eco.is_dir() || NOT_SAMPLES.iter().any(|n| eco.ends_with(n)) {
            continue;
        }
        for f in std::fs::read_dir(&eco).expect("eco dir") {
            let f = f.expect("dir entry").path();
            if f.extension().is_some_and(|e| e == "txt") {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

fn name(p: &Path) -> String {
    let rel = p.strip_prefix(root()).unwrap_or(p).with_extension("");
    rel.to_string_lossy().into_owned()
}

/// Feed the sample 5 ms a line with a fake clock, polling at every deadline that passes.
fn run_poll(text: &str) -> Vec<ErrorBlock> {
    let mut d = Detector::new(DetectSettings::default()).expect("default settings");
    let mut now = Instant::now();
    let mut blocks = Vec::new();
    for l in text.lines() {
        while let Some(dl) = d.deadline().filter(|dl| *dl <= now) {
            blocks.extend(d.poll(dl));
        }
        d.push(Line::new(l, Stream::Pty), now);
        now += Duration::from_millis(5);
    }
    while let Some(dl) = d.deadline() {
        blocks.extend(d.poll(dl));
    }
    blocks
}

fn run_crash(text: &str) -> Option<ErrorBlock> {
    let mut d = Detector::new(DetectSettings::default()).expect("default settings");
    let now = Instant::now();
    for l in text.lines() {
        d.push(Line::new(l, Stream::Pty), now);
    }
    d.crash_block()
}

#[test]
fn corpus() {
    let mut failures = Vec::new();
    let (mut errors, mut benign) = (0, 0);
    let mut ecosystems = std::collections::BTreeSet::new();
    for path in samples() {
        let text = std::fs::read_to_string(&path).expect("sample is UTF-8");
        let n = name(&path);
        let blocks = run_poll(&text);
        if n.starts_with("benign/") {
            benign += 1;
            for b in &blocks {
                failures.push(format!("{n}: benign sample reported {:?}", b.summary));
            }
            continue;
        }
        errors += 1;
        let got: Vec<_> = blocks.iter().map(|b| b.summary.clone()).collect();
        let want = match std::fs::read_to_string(path.with_extension("expect")) {
            Ok(s) => s.lines().next().unwrap_or("").to_string(),
            Err(_) => {
                failures.push(format!("{n}: missing .expect (got {got:?})"));
                continue;
            }
        };
        if blocks.len() != 1 {
            failures.push(format!("{n}: want 1 block, got {}: {got:?}", blocks.len()));
        } else if blocks[0].summary != want {
            failures.push(format!(
                "{n}: poll summary\n    want {want:?}\n    got  {:?}",
                got[0]
            ));
        } else {
            ecosystems.insert(blocks[0].ecosystem);
        }
        match run_crash(&text) {
            Some(b) if b.summary == want => {}
            Some(b) => failures.push(format!("{n}: crash summary {:?}", b.summary)),
            None => failures.push(format!("{n}: crash_block gave None")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The corpus only grows: a lost folder or a renamed extension fails here.
    assert!(errors >= 120, "only {errors} error samples");
    assert!(benign >= 40, "only {benign} benign samples");
    assert!(ecosystems.len() >= 19, "only ecosystems {ecosystems:?}");
}

#[test]
fn fingerprint_pairs() {
    let spec = std::fs::read_to_string(root().join("fingerprints.txt")).expect("fingerprints.txt");
    let fp = |n: &str| {
        let text = std::fs::read_to_string(root().join(format!("{n}.txt"))).expect("sample");
        run_crash(&text).map(|b| b.fingerprint).unwrap_or_default()
    };
    let mut failures = Vec::new();
    for line in spec
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [rel, a, b] = parts[..] else {
            failures.push(format!("bad line {line:?}"));
            continue;
        };
        let (fa, fb) = (fp(a), fp(b));
        let ok = !fa.is_empty() && if rel == "same" { fa == fb } else { fa != fb };
        if !ok {
            failures.push(format!("{rel} {a} ({fa}) {b} ({fb})"));
        }
    }
    assert!(
        failures.is_empty(),
        "fingerprint failures:\n{}",
        failures.join("\n")
    );
}
