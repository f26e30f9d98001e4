//! Reading C and C++ blocks: compiler diagnostics (gcc, clang, g++), link errors,
//! and sanitizer reports. The function comes from gcc's `In function 'f':` line or
//! the sanitizer's first frame in the user's code; clang names no function, so the
//! source line it shows stands in for it in the fingerprint.

use super::analyze::{is_library, num, push_file, re, Analysis};

pub(super) fn compiler(lines: &[&str]) -> Analysis {
    let func_re = re!(r"^\S+: In (?:member )?function [‘'`](.+?)[’'`]:$");
    let diag_re = re!(r"^(\S+?):(\d+):\d+: (?:fatal )?error: (.*)$");
    let undefined_re =
        re!(r"^(\S+?):(?:(\d+)|\(\.\w+\+0x[0-9a-f]+\)): undefined reference to [`'‘](.+?)[’'`]$");
    let ld_func_re = re!(r"^\S*\bld(?:\.\w+)?: .*: in function [`'‘](.+?)[’'`]:$");
    let gutter_re = re!(r"^\s*\d*\s*\|\s(.*)$");
    let mut a = Analysis::default();
    let mut func: Option<String> = None;
    let mut site_next = false;
    for l in lines {
        if site_next {
            site_next = false;
            if let Some(c) = gutter_re.captures(l) {
                a.site = Some(c[1].trim().to_string());
                continue;
            } else if !l.trim().is_empty() && !l.contains(": ") {
                a.site = Some(l.trim().to_string()); // clang prints the line bare
                continue;
            }
        }
        if let Some(c) = func_re.captures(l).or_else(|| ld_func_re.captures(l)) {
            func = Some(c[1].to_string());
        } else if let Some(c) = diag_re.captures(l) {
            push_file(&mut a.files, &c[1], num(c.get(2)));
            if a.kind.is_empty() {
                a.kind = "error".into();
                a.message = c[3].trim().to_string();
                a.file = Some(c[1].to_string());
                a.func = func.clone();
                site_next = true;
            }
        } else if let Some(c) = undefined_re.captures(l) {
            push_file(&mut a.files, &c[1], num(c.get(2)));
            if a.kind.is_empty() {
                a.kind = "undefined reference".into();
                a.message = format!("`{}`", &c[3]);
                a.file = Some(c[1].to_string());
                a.func = func.clone();
            }
        }
    }
    a
}

pub(super) fn sanitizer(lines: &[&str]) -> Analysis {
    let head_re = re!(
        r"^==\d+==ERROR: (\w*Sanitizer): ([\w-]+(?: [\w-]+)*?)(?: on (?:address|unknown address) .*| \(.*|$)"
    );
    let frame_re = re!(r"^\s+#\d+ 0x[0-9a-f]+ in (\S+) (\S+?):(\d+)(?::\d+)?$");
    let ubsan_re = re!(r"^(\S+?):(\d+):\d+: runtime error: (.*)$");
    let mut a = Analysis::default();
    let mut in_first_stack = true;
    let mut seen_frame = false;
    for l in lines {
        if let Some(c) = head_re.captures(l) {
            a.kind = c[1].to_string();
            a.message = c[2].to_string();
        } else if let Some(c) = ubsan_re.captures(l) {
            push_file(&mut a.files, &c[1], num(c.get(2)));
            if a.kind.is_empty() {
                a.kind = "runtime error".into();
                a.message = c[3].trim().to_string();
                a.file = Some(c[1].to_string());
            }
        } else if let Some(c) = frame_re.captures(l) {
            seen_frame = true;
            push_file(&mut a.files, &c[2], num(c.get(3)));
            if in_first_stack && a.func.is_none() && !is_library(&c[2]) && !c[2].starts_with("../")
            {
                a.func = Some(c[1].to_string());
                a.file = Some(c[2].to_string());
            }
        } else if seen_frame && l.trim().is_empty() {
            in_first_stack = false; // `freed by thread T0 here:` stacks follow
        }
    }
    a
}
