//! The redactor against `fixtures/secrets/`: lines that carry secrets, as real
//! programs print them, and look-alikes that must survive. Prints the figures
//! (`cargo test --test redact_corpus -- --nocapture`): recall (secrets masked),
//! context kept (everything but the secret unchanged, so the error stays
//! readable) and the look-alikes' survival rate.

use std::path::{Path, PathBuf};

use otorepair::redact::Redactor;
use regex::Regex;

const OPEN: char = '⟦';
const CLOSE: char = '⟧';

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/secrets")
}

/// A sample: the text as printed, and its parts, secret or not, in order.
struct Sample {
    name: String,
    parts: Vec<(bool, String)>,
}

impl Sample {
    fn parse(name: String, marked: &str) -> Sample {
        let mut parts = Vec::new();
        let mut rest = marked;
        while let Some(open) = rest.find(OPEN) {
            parts.push((false, rest[..open].to_string()));
            let after = &rest[open + OPEN.len_utf8()..];
            let close = after
                .find(CLOSE)
                .unwrap_or_else(|| panic!("{name}: {OPEN} without {CLOSE}"));
            parts.push((true, after[..close].to_string()));
            rest = &after[close + CLOSE.len_utf8()..];
        }
        parts.push((false, rest.to_string()));
        Sample { name, parts }
    }

    fn input(&self) -> String {
        self.parts.iter().map(|(_, t)| t.as_str()).collect()
    }

    fn secrets(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter(|p| p.0).map(|p| p.1.as_str())
    }

    /// The output expected: every secret replaced by one mask, the rest as is.
    fn expected(&self) -> Regex {
        let mut re = String::from("^");
        for (secret, text) in &self.parts {
            if *secret {
                re.push_str(r"\[REDACTED[^\]\n]*\]");
            } else {
                re.push_str(&regex::escape(text));
            }
        }
        re.push('$');
        Regex::new(&re).expect("escaped template compiles")
    }

    /// Whether `secret` (or any 8-character piece of it that neither the rest of
    /// the sample nor a mask contains) is still in `output`.
    fn leaks(&self, secret: &str, output: &str) -> bool {
        let masks = Regex::new(r"\[REDACTED[^\]\n]*\]").expect("mask pattern compiles");
        let output = masks.replace_all(output, "\u{0}");
        let context: String = self
            .parts
            .iter()
            .filter(|p| !p.0)
            .map(|p| p.1.as_str())
            .collect();
        let chars: Vec<char> = secret.chars().collect();
        if chars.len() <= 8 {
            return output.contains(secret);
        }
        chars.windows(8).any(|w| {
            let piece: String = w.iter().collect();
            output.contains(&piece) && !context.contains(&piece)
        })
    }
}

fn content_lines(path: &Path) -> Vec<(usize, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect()
}

fn leak_samples() -> Vec<Sample> {
    let mut samples: Vec<Sample> = content_lines(&root().join("leaks.txt"))
        .into_iter()
        .map(|(n, l)| Sample::parse(format!("leaks.txt:{n}"), &l))
        .collect();
    let mut blocks: Vec<PathBuf> = std::fs::read_dir(root().join("blocks"))
        .expect("fixtures/secrets/blocks exists")
        .map(|e| e.expect("dir entry").path())
        .collect();
    blocks.sort();
    for path in blocks {
        let text = std::fs::read_to_string(&path).expect("block readable");
        // Leading `# ` lines say where the block came from.
        let body: Vec<&str> = text.lines().skip_while(|l| l.starts_with("# ")).collect();
        let name = format!(
            "blocks/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        samples.push(Sample::parse(name, &body.join("\n")));
    }
    samples
}

#[test]
fn secrets_are_masked_and_look_alikes_survive() {
    let red = Redactor::default();
    let samples = leak_samples();
    let (mut secrets, mut masked, mut kept) = (0, 0, 0);
    let mut failures = Vec::new();
    for s in &samples {
        let output = red.redact(&s.input());
        for secret in s.secrets() {
            secrets += 1;
            if s.leaks(secret, &output) {
                failures.push(format!("LEAK {}: {secret:?}\n    out: {output}", s.name));
            } else {
                masked += 1;
            }
        }
        if s.expected().is_match(&output) {
            kept += 1;
        } else {
            failures.push(format!(
                "CONTEXT {}:\n    in:  {}\n    out: {output}",
                s.name,
                s.input()
            ));
        }
    }
    let lookalikes = content_lines(&root().join("lookalikes.txt"));
    let mut survived = 0;
    for (n, line) in &lookalikes {
        let output = red.redact(line);
        if output.as_str() == line {
            survived += 1;
        } else {
            failures.push(format!(
                "MASKED lookalikes.txt:{n}:\n    in:  {line}\n    out: {output}"
            ));
        }
    }
    let lines = samples
        .iter()
        .filter(|s| !s.name.starts_with("blocks/"))
        .count();
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    println!("redaction corpus (fixtures/secrets/)");
    println!(
        "  samples with secrets: {} ({lines} lines, {} blocks), {secrets} secrets",
        samples.len(),
        samples.len() - lines
    );
    println!(
        "  recall:        {masked}/{secrets} = {:.1} %",
        pct(masked, secrets)
    );
    println!(
        "  context kept:  {kept}/{} = {:.1} %",
        samples.len(),
        pct(kept, samples.len())
    );
    println!(
        "  survival:      {survived}/{} look-alikes = {:.1} %",
        lookalikes.len(),
        pct(survived, lookalikes.len())
    );
    for f in &failures {
        println!("{f}");
    }
    assert!(
        lines >= 80 && lookalikes.len() >= 40,
        "the corpus is too small"
    );
    assert_eq!(masked, secrets, "recall must be 100 %");
    assert_eq!(kept, samples.len(), "everything but the secrets must stay");
    assert!(
        pct(survived, lookalikes.len()) >= 90.0,
        "survival below 90 %"
    );
}
