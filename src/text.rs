//! Small text helpers shared by the detector, the agent streams, the overlay and
//! status lines.

/// Removes escape sequences (CSI, OSC, DCS and two-byte ESC forms), C0 and C1
/// control characters and Unicode bidi controls; a tab becomes a space and a
/// newline is kept. The one sanitizer for everything otorepair prints on behalf
/// of someone else (the command, an agent): the result cannot drive the
/// terminal, and cannot reorder what is shown around it.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters and intermediates up to a final byte in @..~
                Some('[') => {
                    for n in chars.by_ref() {
                        if ('@'..='~').contains(&n) {
                            break;
                        }
                    }
                }
                // OSC, DCS, SOS, PM, APC: up to BEL or ST (ESC \)
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    while let Some(n) = chars.next() {
                        if n == '\u{7}' {
                            break;
                        }
                        if n == '\u{1b}' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                }
                // ESC ( B and friends carry one more byte.
                Some('(' | ')' | '*' | '+' | '#' | '%') => {
                    chars.next();
                }
                _ => {}
            },
            '\t' => out.push(' '),
            '\n' => out.push('\n'),
            c if c.is_control() => {}
            c if is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Marks, embeddings, overrides and isolates: invisible, and they reorder the
/// text around them (a file name that reads backwards).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` cut to at most `max` bytes, on a char boundary.
pub fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `s` cut to at most `max` characters, the last one an ellipsis when cut.
pub fn ellipsize(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some(_) => {
            let keep = max.saturating_sub(1);
            let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
            format!("{}…", &s[..end])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ellipsize, sanitize};
    use proptest::prelude::*;

    #[test]
    fn control_sequences_and_bidi_controls_are_removed() {
        assert_eq!(sanitize("a\x1b[2J\x1b[1;1Hb"), "ab");
        assert_eq!(sanitize("t\x1b]0;title\x07x\x1b]8;;http://e\x1b\\y"), "txy");
        assert_eq!(sanitize("a\x1b(Bb\rc\x08d\x07e\u{9b}f"), "abcdef");
        assert_eq!(
            sanitize("tab\there\u{202e}evil\u{2067}x\u{61c}"),
            "tab hereevilx"
        );
        assert_eq!(sanitize("naïve — ok\nnext"), "naïve — ok\nnext");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(512)))]

        /// Whatever goes in, nothing that drives a terminal comes out.
        #[test]
        fn nothing_that_drives_a_terminal_survives(text in any::<String>()) {
            let clean = sanitize(&text);
            prop_assert!(clean.chars().all(|c| c == '\n' || !(c.is_control() || super::is_bidi_control(c))));
            prop_assert!(clean.len() <= text.len());
        }
    }

    #[test]
    fn cuts_on_characters_with_an_ellipsis() {
        assert_eq!(ellipsize("abcdef", 4), "abc…");
        assert_eq!(ellipsize("abcd", 4), "abcd");
        assert_eq!(ellipsize("héllo wörld", 5), "héll…");
        assert_eq!(ellipsize("", 3), "");
    }
}
