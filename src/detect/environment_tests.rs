//! The environment classifier's tests, beside it (a child module of it).
use super::*;
use crate::line::Stream;
use proptest::prelude::*;

fn lines(text: &str) -> Vec<Line> {
    text.lines().map(|l| Line::new(l, Stream::Pty)).collect()
}

fn one(text: &str) -> Option<EnvironmentError> {
    classify(&lines(text))
}

#[test]
fn each_kind_and_what_it_concerns() {
    let e = one("Port 5000 is in use by another program. Either identify and stop that program, or start the server with a different port.").unwrap();
    assert_eq!((e.kind, e.port), (EnvKind::PortInUse, Some(5000)));
    assert_eq!(
        e.describe(Some("PID 4242 (python3)")),
        "port 5000 is in use by PID 4242 (python3)"
    );
    let e = one("Error: connect ECONNREFUSED 127.0.0.1:5432").unwrap();
    assert_eq!(e.kind, EnvKind::ConnectionRefused);
    assert_eq!(e.target.as_deref(), Some("127.0.0.1:5432"));
    let e = one("2026/11/29 23:02:06 listen tcp 127.0.0.1:80: bind: permission denied").unwrap();
    assert_eq!((e.kind, e.port), (EnvKind::PortPermission, Some(80)));
    let e = one("sh: 1: vite: not found").unwrap();
    assert_eq!(
        (e.kind, e.program.as_deref()),
        (EnvKind::MissingProgram, Some("vite"))
    );
    let e = one("/usr/bin/env: ‘python’: No such file or directory").unwrap();
    assert_eq!(e.program.as_deref(), Some("python"));
    let e = one("cp: error writing '/dev/full': No space left on device").unwrap();
    assert_eq!(e.kind, EnvKind::NoSpace);
}

#[test]
fn a_timestamp_is_not_a_port() {
    let e = one("2026/11/29 23:02:05 cannot reach the database: dial tcp 127.0.0.1:5432: connect: connection refused").unwrap();
    assert_eq!(e.target.as_deref(), Some("127.0.0.1:5432"));
    let e = one("[Sun Nov 29 23:01:59 2026] Failed to listen on 127.0.0.1:5055 (reason: Address already in use)").unwrap();
    assert_eq!(e.port, Some(5055));
}

#[test]
fn asides_frames_and_handled_errors_do_not_count() {
    assert!(one("2026-11-29 23:02:09,345 INFO worker: connection refused by 127.0.0.1:6379, retrying in 0.1s").is_none());
    assert!(one("Port 5173 is in use, trying another one...").is_none());
    assert!(one("⚠ Port 3000 is in use, trying 3001 instead.").is_none());
    assert!(one("    if \"Address already in use\" in str(e):").is_none());
    assert!(one("test_port_in_use (test_ports.Ports.test_port_in_use) ... ok").is_none());
    assert!(one("ConnectionRefusedError: [Errno 111] Connection refused\n\nDuring handling of the above exception, another exception occurred:\n\nNameError: name 'fallback_value' is not defined").is_none());
    // A bare PermissionError is a port only with a bind in sight.
    assert!(one("PermissionError: [Errno 13] Permission denied").is_none());
    // A require inside the code is the code's (not the entry file).
    assert!(
        one("Error: Cannot find module './lib/routes'\nRequire stack:\n- /app/server.js").is_none()
    );
}

#[test]
fn a_crash_reads_its_block_else_only_the_lines_after_it() {
    let ctx = lines("Address already in use\nPort 5055 is in use by another program. Either identify and stop that program, or start the server with a different port.\n * Debug mode: off\n");
    let e = classify_crash(None, &ctx).unwrap();
    assert_eq!(e.identity(), "port-in-use:5055");
    // The same crash with the streams in the other order has the same identity.
    let mut swapped = ctx.clone();
    swapped.rotate_right(1);
    assert_eq!(
        classify_crash(None, &swapped).unwrap().identity(),
        e.identity()
    );
    // A code error's block whose chain began with a refused connection: not
    // environment, and its lines are not read again out of their chain.
    let text = "Traceback (most recent call last):\nConnectionRefusedError: [Errno 111] Connection refused\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\nNameError: name 'x' is not defined";
    let ctx = lines(text);
    let block = &ctx[5..];
    assert!(classify_crash(Some(block), &ctx).is_none());
    // Lines printed after the block still tell.
    let mut more = ctx.clone();
    more.push(Line::new("sh: 1: vite: not found", Stream::Pty));
    assert_eq!(
        classify_crash(Some(block), &more).map(|e| e.kind),
        Some(EnvKind::MissingProgram)
    );
    // A JSON record's block ends with its stack, lines the output never
    // had; a block scrolled out of the context leaves all of it after.
    let record = Line::new(
        r#"{"level":50,"err":{"stack":"Error: boom\n    at f (app.js:1:1)"}}"#,
        Stream::Pty,
    );
    let block = [
        record.clone(),
        Line::new("    at f (app.js:1:1)", Stream::Pty),
    ];
    let not_found = Line::new("sh: 1: vite: not found", Stream::Pty);
    for ctx in [vec![record, not_found.clone()], vec![not_found]] {
        assert_eq!(
            classify_crash(Some(&block), &ctx).map(|e| e.kind),
            Some(EnvKind::MissingProgram)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(64)))]

    /// Any lines: it terminates, does not panic, and what it returns is bounded.
    #[test]
    fn any_lines_classify_without_panic(
        texts in proptest::collection::vec(
            prop_oneof![
                ".{0,200}",
                "(Error: |sh: 1: |port |ECONNREFUSED |During handling of the above exception, another exception occurred|:|[0-9]{1,7}| |'|\")*",
            ],
            0..40,
        ),
        cut in 0usize..40,
    ) {
        let ls: Vec<Line> = texts.iter().map(|t| Line::new(t.as_str(), Stream::Pty)).collect();
        let cut = cut.min(ls.len());
        for found in [classify(&ls), classify_crash(Some(&ls[cut..]), &ls), classify_crash(None, &ls)].into_iter().flatten() {
            prop_assert!(found.line.chars().count() <= LINE_MAX);
            prop_assert!(!found.describe(Some("PID 1 (x)")).is_empty());
            prop_assert!(found.identity().starts_with(found.kind.name()));
        }
    }
}
