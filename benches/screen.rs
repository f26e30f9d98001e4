//! Throughput of the screen parser (bytes to clean lines) on a coloured dev-server
//! log: it runs on a copy of every output byte, beside the passthrough.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use otorepair::line::Stream;
use otorepair::screen::{ModeFlags, Screen};

fn colored_log() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..30_000 {
        let line = match i % 3 {
            0 => format!("\x1b[32mINFO\x1b[0m:     127.0.0.1:53412 - \"GET /api/items?page={i} HTTP/1.1\" \x1b[32m200 OK\x1b[0m\r\n"),
            1 => format!("\x1b[2m2026-11-25 10:00:{:02}\x1b[0m \x1b[36mwebpack\x1b[0m compiled \x1b[1;32msuccessfully\x1b[0m in {i} ms\r\n", i % 60),
            _ => format!("\x1b[33mWARN\x1b[0m  deprecated option used in module {i}, see docs\r\n"),
        };
        out.extend_from_slice(line.as_bytes());
    }
    out
}

fn bench(c: &mut Criterion) {
    let log = colored_log();
    let mut group = c.benchmark_group("screen");
    group.throughput(Throughput::Bytes(log.len() as u64));
    group.bench_function("coloured dev-server log", |b| {
        b.iter(|| {
            let mut screen = Screen::new(Stream::Pty, ModeFlags::default());
            let mut lines = Vec::new();
            for chunk in log.chunks(4096) {
                screen.feed(chunk, &mut lines);
                lines.clear();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
