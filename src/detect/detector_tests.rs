//! The detector's unit and property tests (a child module: they check its caps).
use super::*;
use crate::line::Stream;

fn det() -> Detector {
    Detector::new(DetectSettings::default()).expect("defaults are valid")
}

fn feed(d: &mut Detector, lines: &[&str], t: Instant) {
    for l in lines {
        d.push(Line::new(*l, Stream::Stderr), t);
    }
}

const TB: &[&str] = &[
    "Traceback (most recent call last):",
    "  File \"/app/app.py\", line 3, in index",
    "    return d[\"total\"]",
    "KeyError: 'total'",
];

#[test]
fn complete_traceback_settles_after_150ms() {
    let mut d = det();
    let t = Instant::now();
    feed(&mut d, TB, t);
    assert_eq!(d.deadline(), Some(t + EARLY_SETTLE));
    assert!(d.poll(t + Duration::from_millis(149)).is_none());
    let b = d.poll(t + EARLY_SETTLE).expect("block");
    assert_eq!(b.summary, "KeyError: 'total' in index (app.py)");
    assert_eq!(b.lines.len(), 4);
    assert_eq!(d.deadline(), None);
}

#[test]
fn incomplete_block_waits_full_settle_and_lines_extend_it() {
    let mut d = det();
    let t = Instant::now();
    feed(&mut d, &TB[..2], t);
    assert_eq!(d.deadline(), Some(t + Duration::from_secs(2)));
    let t2 = t + Duration::from_secs(1);
    feed(&mut d, &TB[2..3], t2);
    assert_eq!(d.deadline(), Some(t2 + Duration::from_secs(2)));
    assert!(d.poll(t + Duration::from_secs(2)).is_none());
    assert!(d.poll(t2 + Duration::from_secs(2)).is_some());
}

#[test]
fn foreign_lines_do_not_extend_the_block() {
    let mut d = det();
    let t = Instant::now();
    feed(&mut d, TB, t);
    let later = t + Duration::from_millis(100);
    feed(
        &mut d,
        &["127.0.0.1 - - [x] \"GET / HTTP/1.1\" 500 -"],
        later,
    );
    assert_eq!(d.deadline(), Some(t + EARLY_SETTLE));
    assert_eq!(d.poll(t + EARLY_SETTLE).map(|b| b.lines.len()), Some(4));
}

#[test]
fn reloader_chatter_after_a_complete_traceback_does_not_extend_it() {
    // A traceback (or a SyntaxError report) is complete at its final exception
    // line: whatever a reloader or server prints next, indented or not, is not
    // part of it and must not hold it for the full settle (Werkzeug's lines start
    // with ` * `; Flask 1.x indented its banner).
    let syntax: &[&str] = &[
        "  File \"/app/app.py\", line 7",
        "    def index()",
        "               ^",
        "SyntaxError: expected ':'",
    ];
    for block in [TB, syntax] {
        let mut d = det();
        let t = Instant::now();
        feed(&mut d, block, t);
        feed(
            &mut d,
            &[
                " * Detected change in '/app/app.py', reloading",
                " * Restarting with stat",
                " * Debugger is active!",
                " * Debugger PIN: 271-426-714",
                "   WARNING: This is a development server. Do not use it in a production deployment.",
                "   Use a production WSGI server instead.",
                "    Watching for file changes",
            ],
            t + Duration::from_millis(50),
        );
        assert_eq!(d.deadline(), Some(t + EARLY_SETTLE), "{block:?}");
        let b = d.poll(t + EARLY_SETTLE).expect("block");
        assert_eq!(b.lines.len(), 4, "{block:?}");
    }
}

#[test]
fn a_chained_traceback_is_still_one_block() {
    let mut d = det();
    let t = Instant::now();
    feed(&mut d, TB, t);
    feed(
        &mut d,
        &[
            "",
            "During handling of the above exception, another exception occurred:",
            "",
        ],
        t + Duration::from_millis(50),
    );
    let t2 = t + Duration::from_millis(100);
    feed(&mut d, TB, t2);
    assert_eq!(d.deadline(), Some(t2 + EARLY_SETTLE));
    let b = d.poll(t2 + EARLY_SETTLE).expect("block");
    assert_eq!(b.lines.len(), 11);
    assert!(d.poll(t + Duration::from_secs(10)).is_none());
}

/// `n` times `lines`, `gap` apart from `start`, polled as the supervisor
/// would: the blocks reported and when.
fn hammered(start: Instant, n: u32, gap: Duration, lines: &[&str]) -> Vec<(Instant, ErrorBlock)> {
    let mut d = det();
    let mut blocks = Vec::new();
    for i in 0..n {
        let now = start + gap * i;
        while let Some(dl) = d.deadline().filter(|dl| *dl <= now) {
            blocks.extend(d.poll(dl).map(|b| (dl, b)));
        }
        feed(&mut d, lines, now);
    }
    while let Some(dl) = d.deadline() {
        blocks.extend(d.poll(dl).map(|b| (dl, b)));
    }
    blocks
}

#[test]
fn tracebacks_faster_than_the_early_settle_are_each_their_own_block() {
    // A failing route hit ten times a second: each traceback is a complete,
    // separate error; the next one's first line closes the one before.
    let mut lines = vec!["127.0.0.1 - - [30/Nov/2026 00:29:11] \"GET / HTTP/1.1\" 500 -"];
    lines.extend_from_slice(TB);
    let (start, gap) = (Instant::now(), Duration::from_millis(100));
    let blocks = hammered(start, 100, gap, &lines);
    assert_eq!(blocks.len(), 100);
    assert!(
        blocks[0].0 <= start + gap,
        "the first is reported when the second starts"
    );
    assert!(blocks
        .iter()
        .all(|(_, b)| b.lines.len() == 4 && b.summary.starts_with("KeyError")));
}

#[test]
fn a_traceback_after_other_output_starts_a_new_block_even_if_the_last_was_cut() {
    // The old worker died in the middle of a traceback (no final line), then the
    // server logged a request and another traceback came: two errors, not one.
    let mut d = det();
    let t = Instant::now();
    feed(&mut d, &TB[..3], t);
    let t2 = t + Duration::from_millis(300);
    feed(
        &mut d,
        &["127.0.0.1 - - [30/Nov/2026 00:29:11] \"GET / HTTP/1.1\" 500 -"],
        t2,
    );
    feed(&mut d, TB, t2);
    let first = d.poll(t2).expect("the cut block, closed by the new start");
    assert_eq!(first.lines.len(), 3);
    let second = d.poll(t2 + EARLY_SETTLE).expect("the new block");
    assert_eq!(second.lines.len(), 4);
}

#[test]
fn no_block_stays_open_longer_than_max_open_however_steady_the_output() {
    // An endless stream of lines that each belong (frames, every 100 ms): the
    // block is still reported MAX_OPEN after its first line.
    let mut d = det();
    let t = Instant::now();
    feed(&mut d, &TB[..1], t);
    let mut reported = None;
    for i in 1..1000u32 {
        let now = t + Duration::from_millis(100) * i;
        if let Some(b) = d
            .deadline()
            .filter(|dl| *dl <= now)
            .and_then(|dl| d.poll(dl))
        {
            reported = Some((now, b));
            break;
        }
        feed(&mut d, &["  File \"/app/app.py\", line 3, in index"], now);
    }
    let (at, b) = reported.expect("reported");
    assert!(
        at <= t + MAX_OPEN + Duration::from_millis(100),
        "{:?}",
        at - t
    );
    assert!(at >= t + MAX_OPEN, "not before the bound: {:?}", at - t);
    assert!(b.lines.len() > 50);
}

#[test]
fn a_json_error_record_is_one_block_with_its_stack_unescaped() {
    let mut d = det();
    let t = Instant::now();
    feed(
        &mut d,
        &[
            r#"{"level":30,"msg":"request completed","errors":[]}"#,
            r#"{"level":50,"err":{"type":"TypeError","message":"boom","stack":"TypeError: boom\n    at run (/app/a.js:1:2)"},"msg":"failed"}"#,
            r#"{"level":30,"msg":"request completed"}"#,
        ],
        t,
    );
    let b = d.poll(t + EARLY_SETTLE).expect("block");
    assert_eq!(b.ecosystem, "node");
    assert_eq!(b.summary, "TypeError: boom in run (a.js)");
    assert_eq!(b.lines.len(), 3);
    assert_eq!(b.lines[2].text, "    at run (/app/a.js:1:2)");
    assert!(d.poll(t + Duration::from_secs(5)).is_none());
}

#[test]
fn keyboard_interrupt_is_not_reported() {
    let mut d = det();
    let t = Instant::now();
    feed(&mut d, &TB[..3], t);
    feed(&mut d, &["KeyboardInterrupt"], t);
    assert!(d.poll(t + Duration::from_secs(5)).is_none());
    assert!(d.crash_block().is_none());
}

#[test]
fn user_patterns_and_ignores() {
    assert!(Detector::new(DetectSettings {
        extra_patterns: vec!["(".into()],
        ..Default::default()
    })
    .is_err());
    let mut d = Detector::new(DetectSettings {
        extra_patterns: vec!["^BOOM".into()],
        extra_ignores: vec!["KeyError".into()],
        ..Default::default()
    })
    .expect("valid");
    let t = Instant::now();
    feed(&mut d, TB, t);
    assert!(d.poll(t + Duration::from_secs(5)).is_none());
    feed(&mut d, &["BOOM the disk is full"], t);
    assert_eq!(
        d.poll(t + Duration::from_secs(5)).map(|b| b.ecosystem),
        Some("custom")
    );
}

#[test]
fn huge_line_and_many_tracebacks_stay_bounded() {
    let mut d = det();
    let t = Instant::now();
    let mut huge = String::from("Error: ");
    huge.push_str(&"x".repeat(100 * 1024 * 1024));
    d.push(Line::new(huge, Stream::Pty), t);
    assert!(d.buffer_bytes <= BUFFER_BYTES);
    assert!(d
        .buffer
        .iter()
        .all(|(_, l)| l.text.capacity() <= LINE_BYTES));
    for i in 0..10_000 {
        feed(&mut d, TB, t + Duration::from_millis(i));
        let frame = format!("  File \"/app/x{i}.py\", line {i}, in f");
        feed(&mut d, &[frame.as_str(); 50], t + Duration::from_millis(i));
    }
    assert!(d.buffer.len() <= BUFFER_LINES && d.buffer_bytes <= BUFFER_BYTES);
    assert!(d.queue.len() <= QUEUE_MAX);
    let open = d.open.as_ref().map_or(0, |o| o.lines.len());
    assert!(open <= BLOCK_LINES);
    assert_eq!(d.context(80).len(), 80);
    d.reset();
    assert!(d.context(80).is_empty() && d.deadline().is_none());
}

mod properties {
    use super::super::*;
    use crate::detect::fingerprint::SUMMARY_MAX;
    use crate::line::{Line, Stream};
    use proptest::prelude::*;

    /// Lines a dev server, a test runner or an attacker might print: start lines of
    /// every family, frames, JSON records (valid, cut, hostile), huge and odd text.
    fn any_line() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("Traceback (most recent call last):".to_string()),
            Just("  File \"/app/app.py\", line 3, in index".to_string()),
            Just("KeyError: 'total'".to_string()),
            Just("TypeError: boom".to_string()),
            Just("    at run (/app/a.js:1:2)".to_string()),
            Just("panic: runtime error: index out of range".to_string()),
            Just("goroutine 1 [running]:".to_string()),
            Just("=================================== FAILURES ===================================".to_string()),
            Just("  ● cart › total".to_string()),
            Just(" FAIL  a.test.js > a > b".to_string()),
            Just("---- tests::x stdout ----".to_string()),
            Just("--- FAIL: TestX (0.00s)".to_string()),
            Just("main.c:5:20: error: 'x' undeclared".to_string()),
            Just("==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x1".to_string()),
            Just("2026-11-29 23:09:03,788 CRITICAL worker: died".to_string()),
            Just(String::new()),
            "[ -~]{0,120}",
            "\\PC{0,200}",
            "[ \t]{0,4}[a-zA-Z:(){}\\[\\]\"'.,/_=<>-]{0,80}",
            ("\\{\"level\":(50|60|\"error\"|\"fatal\"|30),\"msg\":\"[a-z ]{0,20}\"", "(,\"err\":\\{\"stack\":\"[A-Za-z]{0,10}Error: x(\\\\n    at f \\(/a/b.js:1:2\\)){0,50}\"\\})?", "\\}?")
                .prop_map(|(a, b, c)| format!("{a}{b}{c}")),
            ("\\{[\"\\\\{}\\[\\]:,a-z0-9 ]{0,300}", Just(())).prop_map(|(s, _)| s),
            (1usize..20_000).prop_map(|n| format!("Error: {}", "x".repeat(n))),
            (1usize..20_000).prop_map(|n| format!(
                "{{\"level\":50,\"stack\":\"Error: y{}\"}}",
                "\\n    at f (/a.js:1:2)".repeat(n / 20 + 1)
            )),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(32)))]

        /// Any line sequence at any pace: every call returns, memory stays within the
        /// caps, and every reported block has a bounded one-line summary.
        #[test]
        fn any_lines_stay_bounded(
            lines in proptest::collection::vec((any_line(), 0u64..3000), 0..300)
        ) {
            let mut d = Detector::new(DetectSettings::default()).expect("defaults");
            let mut now = Instant::now();
            let mut blocks = Vec::new();
            for (text, gap_ms) in lines {
                now += Duration::from_millis(gap_ms);
                while let Some(dl) = d.deadline().filter(|dl| *dl <= now) {
                    blocks.extend(d.poll(dl));
                }
                d.push(Line::new(text, Stream::Pty), now);
                prop_assert!(d.buffer.len() <= BUFFER_LINES);
                prop_assert!(d.buffer_bytes <= BUFFER_BYTES + LINE_BYTES);
                prop_assert!(d.queue.len() <= QUEUE_MAX);
                if let Some(open) = &d.open {
                    prop_assert!(d.deadline().is_some_and(|dl| dl <= open.opened + MAX_OPEN));
                    prop_assert!(open.lines.len() <= BLOCK_LINES);
                    prop_assert!(open.bytes <= BLOCK_BYTES + 2 * LINE_BYTES);
                    prop_assert!(open.pending_blank.len() <= 3);
                }
            }
            while let Some(dl) = d.deadline() {
                blocks.extend(d.poll(dl));
            }
            blocks.extend(d.crash_block());
            for b in &blocks {
                prop_assert!(b.summary.chars().count() <= SUMMARY_MAX);
                prop_assert!(!b.summary.chars().any(char::is_control));
                prop_assert_eq!(b.fingerprint.len(), 16);
                prop_assert!(b.lines.len() <= BLOCK_LINES);
                prop_assert!(b.lines.iter().all(|l| l.text.len() <= LINE_BYTES));
            }
        }
    }
}

#[test]
fn an_exception_message_that_goes_on_after_its_line_stays_in_the_block() {
    // Real Flask logs (fixtures/errors/gen/messages.sh): pydantic names the
    // field and why on the lines after the exception line, SQLAlchemy the SQL;
    // the access-log line after them is the server talking again.
    for (sample, summary, details) in [
        (
            include_str!("../../fixtures/errors/python/flask_pydantic.txt"),
            "pydantic_core._pydantic_core.ValidationError: 1 validation error for User",
            &[
                "age",
                "  Input should be a valid integer, unable to parse string as an integer [type=int_parsing, input_value='abc', input_type=str]",
                "    For further information visit https://errors.pydantic.dev/2.14/v/int_parsing",
            ][..],
        ),
        (
            include_str!("../../fixtures/errors/python/flask_sqlalchemy.txt"),
            "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) no such table: orders",
            &[
                "[SQL: SELECT id, total FROM orders WHERE user_id = ?]",
                "[parameters: (7,)]",
                "(Background on this error at: https://sqlalche.me/e/21/e3q8)",
            ][..],
        ),
    ] {
        let mut d = det();
        let t = Instant::now();
        let lines: Vec<&str> = sample.lines().collect();
        feed(&mut d, &lines, t);
        let b = d.poll(t + Duration::from_secs(3)).expect("a block");
        assert!(b.summary.starts_with(summary), "{}", b.summary);
        let text: Vec<&str> = b.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(&text[text.len() - details.len()..], details, "{text:#?}");
        assert!(d.poll(t + Duration::from_secs(10)).is_none());
    }
}
