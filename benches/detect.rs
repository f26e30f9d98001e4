//! Detector throughput on one core: a benign dev-server log, a benign JSON-lines log
//! (pino, structlog, zap and winston records full of `errors`, `error_count` and
//! "transient error"), and a log where every 10th line looks suspicious.
//! Goals: >= 200 MB/s, >= 200 MB/s and >= 50 MB/s (BENCHMARKS.md).

mod support;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use otorepair::line::{Line, Stream};

const BENIGN: &[&str] = &[
    "127.0.0.1 - - [25/Nov/2026 11:30:19] \"GET /static/app.js HTTP/1.1\" 200 -",
    "[2026-11-25 11:30:19,384] INFO in app: rendering dashboard for user 42",
    "GET /api/items?page=3 200 12.532 ms - 1532",
    "webpack 5.112.2 compiled successfully in 121 ms",
    "  ➜  Local:   http://localhost:5173/",
    "11:37:20 AM - Found 0 errors. Watching for file changes.",
    "[nodemon] restarting due to changes...",
    "Compiled /dashboard in 210ms (512 modules)",
    "127.0.0.1 - - [25/Nov/2026 11:30:20] \"GET /api/errors HTTP/1.1\" 404 -",
];

/// Healthy structured logs: every line starts with `{`, many name errors at info.
const BENIGN_JSON: &[&str] = &[
    r#"{"level":30,"time":1795993277558,"pid":28603,"hostname":"vm","reqId":"req-1","res":{"statusCode":200},"responseTime":2.29,"msg":"request completed"}"#,
    r#"{"order_id": 17, "errors": [], "error_count": 0, "event": "handling order", "level": "info", "timestamp": "2026-11-29T23:01:14.567162Z"}"#,
    r#"{"level":"info","ts":1795993261.93,"caller":"zap/main.go:29","msg":"inventory service started","error_count":0,"errors":[]}"#,
    r#"{"level":"warn","message":"retrying after transient error","attempt":1,"timestamp":"2026-11-29T23:01:19.556Z"}"#,
    r#"{"level":30,"time":1795993278452,"pid":28710,"hostname":"vm","req":{"id":1,"method":"GET","url":"/api/errors","remoteAddress":"127.0.0.1"},"res":{"statusCode":200},"responseTime":7,"msg":"request completed"}"#,
    r#"{"asctime": "2026-11-29 23:01:15,588", "levelname": "INFO", "name": "billing", "message": "invoice run started", "errors": [], "error_count": 0}"#,
    r#"{"level":"info","msg":"health check","status":"ok","last_error":null,"stack":"node","exception":false}"#,
];

const SUSPICIOUS: &[&str] = &[
    "TypeError: Cannot read properties of undefined (reading 'name')",
    "[2026-11-25 11:30:19,384] ERROR in app: retrying upstream",
    "Error: connect ECONNREFUSED 127.0.0.1:5432",
];

fn log(benign: &[&str], suspicious_every: Option<usize>, lines: usize) -> Vec<Line> {
    (0..lines)
        .map(|i| {
            let text = match suspicious_every {
                Some(n) if i % n == n - 1 => SUSPICIOUS[i % SUSPICIOUS.len()],
                _ => benign[i % benign.len()],
            };
            Line::new(text, Stream::Pty)
        })
        .collect()
}

fn bench(c: &mut Criterion, name: &str, lines: Vec<Line>) {
    let bytes: usize = lines.iter().map(|l| l.text.len() + 1).sum();
    let mut g = c.benchmark_group("detector");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function(name, |b| {
        b.iter_batched(
            || lines.clone(),
            support::run_detector,
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench(c, "benign", log(BENIGN, None, 20_000));
    bench(c, "benign_json", log(BENIGN_JSON, None, 20_000));
    bench(c, "every_10th_suspicious", log(BENIGN, Some(10), 20_000));
}

criterion_group!(detect, benches);
criterion_main!(detect);
