//! Redaction cost per KiB, on what it is given: an error block (at most 64 KiB,
//! once per sink it goes to, never on the passthrough bytes) and, at `-vvv`, one line at a
//! time. The detector runs on the same bytes in the same run, as the reference:
//! it sees every byte the command prints, redaction only the blocks.

mod support;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use otorepair::line::{Line, Stream};
use otorepair::redact::Redactor;

/// A dev server's output around a crash: access logs, a traceback, config
/// lines, and every 20th line a secret in one of the common forms.
const LOG: &[&str] = &[
    "127.0.0.1 - - [25/Nov/2026 11:30:19] \"GET /static/app.js HTTP/1.1\" 200 -",
    "[2026-11-25 11:30:19,384] INFO in app: rendering dashboard for user 42",
    "Traceback (most recent call last):",
    "  File \"/home/dev/shop/app.py\", line 31, in <module>",
    "    port = int(os.environ[\"PORT\"])",
    "KeyError: 'PORT'",
    "GET /api/items?page=3 200 12.532 ms - 1532",
    "time=2026-11-25T11:30:19Z level=info msg=\"cache warm\" key_count=1200 token_count=3",
    "webpack 5.112.2 compiled successfully in 121 ms",
    "Digest: sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "request_id=550e8400-e29b-41d4-a716-446655440000 status=200 duration_ms=12",
    "  ➜  Local:   http://localhost:5173/",
    "[nodemon] restarting due to changes...",
    "Compiled /dashboard in 210ms (512 modules)",
    "{'user': 'ana', 'role': 'admin', 'theme': 'dark', 'locale': 'fr_FR'}",
    "    at Server.setupListenHandle [as _listen2] (node:net:1817:16)",
    "11:37:20 AM - Found 0 errors. Watching for file changes.",
    "django.db.utils.OperationalError: connection to server at \"db\" (10.0.0.5), port 5432 failed",
    "[2026-11-25 11:30:20] WARNING: retrying upstream in 2s (attempt 3/5)",
];

const SECRETS: &[&str] = &[
    "DATABASE_PASSWORD=hunter2",
    "connecting to postgres://shop:pg_P4ss@db.internal:5432/shop",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.dozjgNryP4J3jVmNHl0w5N",
    "{'username': 'ana', 'password': 'hunter2'}",
    "GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
];

/// About `kib` KiB of lines, every 20th a secret.
fn block(kib: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut bytes = 0;
    let mut i = 0;
    while bytes < kib * 1024 {
        let line = if i % 20 == 19 {
            SECRETS[(i / 20) % SECRETS.len()]
        } else {
            LOG[i % LOG.len()]
        };
        bytes += line.len() + 1;
        lines.push(line.to_string());
        i += 1;
    }
    lines
}

fn env() -> Vec<(String, String)> {
    vec![
        ("SHOP_API_TOKEN".to_string(), "tok-5f2b9c8e1d".to_string()),
        ("DATABASE_PASSWORD".to_string(), "hunter2-db-Pw".to_string()),
        ("HOME".to_string(), "/home/dev".to_string()),
    ]
}

fn benches(c: &mut Criterion) {
    let red = Redactor::from_env(&env());
    for kib in [4usize, 64] {
        let lines = block(kib);
        let text = lines.join("\n");
        let mut g = c.benchmark_group("redact");
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(format!("block_{kib}k"), |b| b.iter(|| red.redact(&text)));
        g.bench_function(format!("per_line_{kib}k"), |b| {
            b.iter(|| {
                for l in &lines {
                    std::hint::black_box(red.redact(l));
                }
            })
        });
        g.finish();

        // The reference: the detector on the same lines (it runs on every line
        // the command prints).
        let mut g = c.benchmark_group("detector");
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(format!("same_{kib}k"), |b| {
            b.iter_batched(
                || {
                    lines
                        .iter()
                        .map(|l| Line::new(l.as_str(), Stream::Pty))
                        .collect::<Vec<_>>()
                },
                support::run_detector,
                BatchSize::LargeInput,
            )
        });
        g.finish();
    }
}

criterion_group!(redact, benches);
criterion_main!(redact);
