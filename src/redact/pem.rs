//! Private key blocks: PEM (RFC 7468), OpenSSH (`PROTOCOL.key`) and PGP armour,
//! with or without their armour lines. A crash window of 80 lines can start in
//! the middle of a key, so a run of base64 body lines is a key body on its own.
//! Certificates and public keys are not secrets: their bodies stay.
//!
//! Sources: <https://datatracker.ietf.org/doc/html/rfc7468#section-3> (lines of
//! 64 base64 characters between `-----BEGIN label-----` and `-----END label-----`),
//! <https://github.com/openssh/openssh-portable/blob/master/PROTOCOL.key> (70
//! characters per line), <https://datatracker.ietf.org/doc/html/rfc4880#section-6.2>.

use super::{Mask, Span};

/// A body line at least this long, with upper case, lower case and digits, is
/// key material even without armour (random base64 of this length has all three
/// almost always; hex digests and words do not).
const STRONG_BODY_LINE: usize = 40;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Outside,
    /// Inside a private key's armour: everything up to its END line is masked.
    Private,
    /// Inside a certificate or public key's armour: nothing is masked.
    Public,
}

/// Adds one span per private key block (armour included) in `text`.
pub(super) fn find(text: &str, out: &mut Vec<Span>) {
    if !text.contains("-----") && !has_long_base64_line(text) {
        return;
    }
    let mut state = State::Outside;
    // The open span: start and end byte of what is masked so far.
    let mut open: Option<(usize, usize)> = None;
    // A headless run of body lines: (start, end, has a strong line).
    let mut run: Option<(usize, usize, bool)> = None;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let start = at;
        at += line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        let end = start + content.len();
        let trimmed = content.trim();
        match state {
            State::Private => {
                if is_armour(trimmed, "-----END ") || in_private_block(trimmed) {
                    open = open.map(|(s, _)| (s, end));
                    if is_armour(trimmed, "-----END ") {
                        close(&mut open, out);
                        state = State::Outside;
                    }
                    continue;
                }
                // Not key text: the block was cut short. This line is ordinary.
                close(&mut open, out);
                state = State::Outside;
            }
            State::Public => {
                if trimmed.contains("-----END ") {
                    state = State::Outside;
                }
                continue;
            }
            State::Outside => {}
        }
        if let Some(pos) = content.find("-----BEGIN ") {
            end_run(&mut run, out);
            let label = &content[pos..];
            if !label.contains("PRIVATE KEY") {
                state = State::Public;
                if label.contains("-----END ") {
                    state = State::Outside;
                }
                continue;
            }
            // A one-line block (`"-----BEGIN ...-----\nMII...\n-----END ...-----\n"`
            // inside a JSON string) ends on this line.
            let from = start + pos;
            match label.rfind("-----END ") {
                Some(e) => {
                    let tail = &label[e + "-----END ".len()..];
                    let close_at = tail
                        .find("-----")
                        .map_or(label.len(), |c| e + "-----END ".len() + c + "-----".len());
                    out.push(key_span(from, from + close_at));
                }
                None => {
                    open = Some((from, end));
                    state = State::Private;
                }
            }
            continue;
        }
        if is_armour(trimmed, "-----END ") && trimmed.contains("PRIVATE KEY") {
            // The END of a block whose BEGIN fell outside the window.
            if let Some((s, _, _)) = run.take() {
                out.push(key_span(s, end));
            }
            continue;
        }
        if is_body_line(trimmed) {
            let strong = is_strong_body_line(trimmed);
            run = Some(match run {
                Some((s, _, was)) => (s, end, was || strong),
                None => (
                    start + (content.len() - content.trim_start().len()),
                    end,
                    strong,
                ),
            });
        } else {
            end_run(&mut run, out);
        }
    }
    if state == State::Private {
        close(&mut open, out);
    }
    end_run(&mut run, out);
}

fn key_span(start: usize, end: usize) -> Span {
    Span {
        start,
        end,
        mask: Mask::PrivateKey,
    }
}

fn close(open: &mut Option<(usize, usize)>, out: &mut Vec<Span>) {
    if let Some((s, e)) = open.take() {
        out.push(key_span(s, e));
    }
}

fn end_run(run: &mut Option<(usize, usize, bool)>, out: &mut Vec<Span>) {
    if let Some((s, e, strong)) = run.take() {
        if strong {
            out.push(key_span(s, e));
        }
    }
}

fn is_armour(line: &str, kind: &str) -> bool {
    line.contains(kind) && line.ends_with("-----")
}

/// Lines that can appear between a private key's armour lines: base64, PEM
/// headers (`Proc-Type: 4,ENCRYPTED`, `DEK-Info: ...`), PGP's `Version:` and
/// `=checksum`, blank lines, and the END line.
fn in_private_block(line: &str) -> bool {
    line.is_empty()
        || is_body_line(line)
        || line.starts_with('=')
        || line.split_once(": ").is_some_and(|(k, _)| {
            matches!(
                k,
                "Proc-Type" | "DEK-Info" | "Version" | "Comment" | "Hash" | "Charset" | "MessageID"
            )
        })
}

fn is_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// Only base64 characters, with at most two `=` of padding.
fn is_body_line(line: &str) -> bool {
    let body = line.trim_end_matches('=');
    line.len() - body.len() <= 2 && body.len() >= 4 && body.bytes().all(is_base64_byte)
}

fn is_strong_body_line(line: &str) -> bool {
    line.len() >= STRONG_BODY_LINE
        && line.bytes().any(|b| b.is_ascii_uppercase())
        && line.bytes().any(|b| b.is_ascii_lowercase())
        && line.bytes().any(|b| b.is_ascii_digit())
}

/// A cheap first look: is there a run of base64 long enough, and mixed enough,
/// to be a strong body line? (A hex digest is long but has no upper case.)
fn has_long_base64_line(text: &str) -> bool {
    let (mut run, mut upper, mut lower, mut digit) = (0usize, false, false, false);
    for b in text.bytes() {
        if is_base64_byte(b) || b == b'=' {
            run += 1;
            upper |= b.is_ascii_uppercase();
            lower |= b.is_ascii_lowercase();
            digit |= b.is_ascii_digit();
            if run >= STRONG_BODY_LINE && upper && lower && digit {
                return true;
            }
        } else {
            (run, upper, lower, digit) = (0, false, false, false);
        }
    }
    false
}
