//! Reading a failing test run: which test failed, with which assertion, where.
//! The summary names the test (`func`) and the assertion (`kind: message`); the
//! fingerprint keys on them and the file, not on durations or line numbers.

use super::analyze::{is_library, num, push_file, re, Analysis};

/// pytest: the first `____ test_name ____` section of FAILURES (or ERRORS), its
/// `E   ` lines and `path:line: ExcType` locations; the short summary as fallback.
pub(super) fn pytest(lines: &[&str]) -> Analysis {
    let head_re = re!(r"^_{3,} (ERROR collecting )?(\S+?) _{3,}$");
    let e_re = re!(
        r"^E\s+(?:([A-Za-z_][\w.]*(?:Error|Exception|Exit|Failed|Warning))(?::\s*(.*))?|(.*))$"
    );
    let loc_re = re!(r"^(\S+\.py):(\d+):(?: in \S+| ([A-Za-z_][\w.]*))?\s*$");
    let short_re = re!(r"^(?:FAILED|ERROR) (\S+?\.py)(?:::(\S+))?(?: - (.*))?$");
    let mut a = Analysis::default();
    let mut sections = 0;
    let mut e_lines: Vec<String> = Vec::new();
    let mut loc: Option<(String, Option<String>)> = None;
    for l in lines {
        if let Some(c) = head_re.captures(l) {
            sections += 1;
            if sections == 1 && c.get(1).is_none() {
                a.func = Some(c[2].to_string()); // a test; not a module failing to import
            }
        } else if sections <= 1 {
            if let Some(c) = e_re.captures(l) {
                if let Some(kind) = c.get(1) {
                    if a.kind.is_empty() {
                        a.kind = kind.as_str().to_string();
                        a.message = c.get(2).map_or("", |m| m.as_str()).trim().to_string();
                    }
                } else if e_lines.is_empty() {
                    e_lines.push(c.get(3).map_or("", |m| m.as_str()).trim().to_string());
                }
            } else if let Some(c) = loc_re.captures(l) {
                push_file(&mut a.files, &c[1], num(c.get(2)));
                if !is_library(&c[1]) {
                    loc = Some((c[1].to_string(), c.get(3).map(|m| m.as_str().to_string())));
                }
            }
        }
        if let Some(c) = short_re.captures(l) {
            push_file(&mut a.files, &c[1], None);
            if a.func.is_none() && sections == 0 {
                a.func = c.get(2).map(|m| m.as_str().to_string());
            }
            if a.kind.is_empty() && e_lines.is_empty() {
                if let Some(m) = c.get(3) {
                    e_lines.push(m.as_str().to_string());
                }
            }
        }
    }
    if let Some((file, kind)) = loc {
        a.file = Some(file);
        if a.kind.is_empty() {
            a.kind = kind.unwrap_or_default();
        }
    }
    if let Some(first) = e_lines.into_iter().next() {
        if a.kind.is_empty() {
            a.kind = "AssertionError".into();
        }
        if a.message.is_empty() {
            a.message = first;
        }
    }
    if a.kind.is_empty() && a.func.is_some() {
        a.kind = "test failed".into();
    }
    a
}

/// jest: `● suite › test`, the assertion (`expect(received).toBe(expected)` with its
/// Expected/Received lines, or an error), and the first `at` frame outside libraries.
pub(super) fn jest(lines: &[&str]) -> Analysis {
    let head_re = re!(r"^  ● (.+)$");
    let frame_re = re!(r"^\s+at (?:(?:async )?(.+?) \()?(?:file://)?(.+?):(\d+):(\d+)\)?$");
    let err_re = re!(r"^\s+((?:[\w$.]*)(?:Error|Exception)\w*): (.*)$");
    let expect_re = re!(r"^\s+(expect\(.*?\)\.\S+?\(.*?\))(?:\s+//.*)?$");
    let value_re = re!(r"^\s+((?:Expected|Received)(?: [\w ]+)?: .*)$");
    let mut a = Analysis::default();
    let mut failures = 0;
    // `Expected: 5` / `Received: 6` after an `expect(...)` line become its message.
    let mut values: Option<Vec<String>> = None;
    for l in lines {
        if let Some(c) = head_re.captures(l) {
            failures += 1;
            if failures == 1 {
                a.func = Some(c[1].trim().to_string());
            }
            continue;
        }
        if failures > 1 {
            continue;
        }
        if let Some(c) = frame_re.captures(l) {
            push_file(&mut a.files, &c[2], num(c.get(3)));
            if a.file.is_none() && !is_library(&c[2]) {
                a.file = Some(c[2].to_string());
            }
        } else if a.kind.is_empty() {
            if let Some(c) = expect_re.captures(l) {
                a.kind = c[1].to_string();
                values = Some(Vec::new());
            } else if let Some(c) = err_re.captures(l) {
                a.kind = c[1].to_string();
                a.message = c[2].trim().to_string();
            }
        } else if let (Some(values), Some(c)) = (values.as_mut(), value_re.captures(l)) {
            values.push(c[1].trim().to_string());
        }
    }
    if let Some(values) = values.filter(|v| !v.is_empty()) {
        a.message = values.join(", ");
    }
    a
}

/// vitest: ` FAIL  file > suite > test`, the error line after it, and the first
/// ` ❯ file:line:col` frame outside libraries.
pub(super) fn vitest(lines: &[&str]) -> Analysis {
    let head_re = re!(r"^ FAIL  (\S+) > (.+)$");
    let err_re = re!(r"^((?:[\w$.]*)(?:Error|Exception)\w*): (.*?)(?:\s+// .*)?$");
    let frame_re = re!(r"^\s*❯ (?:(\S+) )?(\S+?):(\d+):(\d+)$");
    let mut a = Analysis::default();
    let mut failures = 0;
    for l in lines {
        if let Some(c) = head_re.captures(l) {
            failures += 1;
            if failures == 1 {
                push_file(&mut a.files, &c[1], None);
                a.func = Some(c[2].trim().to_string());
                a.file = Some(c[1].to_string());
            }
            continue;
        }
        if failures != 1 {
            continue;
        }
        if let Some(c) = frame_re.captures(l) {
            push_file(&mut a.files, &c[2], num(c.get(3)));
            if !is_library(&c[2]) && a.files.len() == 2 {
                a.file = Some(c[2].to_string());
            }
        } else if a.kind.is_empty() {
            if let Some(c) = err_re.captures(l) {
                a.kind = c[1].to_string();
                a.message = c[2].trim().to_string();
            }
        }
    }
    a
}

/// cargo test: `---- name stdout ----`, then the panic inside it (Rust's reading).
pub(super) fn cargo_test(lines: &[&str]) -> Analysis {
    let head_re = re!(r"^---- (\S+) stdout ----$");
    let name = lines
        .iter()
        .find_map(|l| head_re.captures(l))
        .map(|c| c[1].to_string());
    // The first test's own lines: up to the next `---- ... stdout ----`.
    let first: Vec<&str> = lines
        .iter()
        .skip_while(|l| !head_re.is_match(l))
        .skip(1)
        .take_while(|l| !head_re.is_match(l))
        .copied()
        .collect();
    let mut a = super::analyze::analyze(super::patterns::Eco::Rust, &first);
    let panic_re = re!(r"^thread '[^']*'(?: \(\d+\))? panicked at (.+?):(\d+):\d+:?$");
    for l in lines {
        if let Some(c) = panic_re.captures(l) {
            push_file(&mut a.files, &c[1], num(c.get(2)));
        }
    }
    a.func = name;
    a
}

/// go test: `--- FAIL: TestName`, then the first `file_test.go:N: message` line, or
/// a panic inside the test (Go's reading for the frames).
pub(super) fn go_test(lines: &[&str]) -> Analysis {
    let head_re = re!(r"^\s*--- FAIL: (\S+)");
    let msg_re = re!(r"^\s+(\S+_test\.go):(\d+): (.*)$");
    let mut a = Analysis::default();
    let name = lines
        .iter()
        .find_map(|l| head_re.captures(l))
        .map(|c| c[1].to_string());
    if lines.iter().any(|l| l.starts_with("panic: ")) {
        let panic: Vec<&str> = lines
            .iter()
            .skip_while(|l| !l.starts_with("panic: "))
            .copied()
            .collect();
        a = super::analyze::analyze(super::patterns::Eco::Go, &panic);
        a.message = a.message.trim_end_matches(" [recovered]").to_string();
    } else if let Some(c) = lines.iter().find_map(|l| msg_re.captures(l)) {
        a.kind = "FAIL".into();
        a.message = c[3].trim().to_string();
        a.file = Some(c[1].to_string());
        push_file(&mut a.files, &c[1], num(c.get(2)));
    }
    if name.is_some() {
        a.func = name;
    }
    if a.kind.is_empty() {
        a.kind = "FAIL".into();
    }
    a
}
