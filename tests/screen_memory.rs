//! The screen's memory stays bounded on hostile output, vte's buffers included:
//! a counting allocator (this test binary's own) measures the peak.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use otorepair::line::Stream;
use otorepair::screen::{ModeFlags, Screen};

struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = NOW.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: same layout contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        NOW.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Feeds `head`, then `body` 16 MiB worth in 64 KiB reads, and returns how far
/// the heap grew above where it started.
fn growth(head: &[u8], body: &[u8]) -> usize {
    let chunk: Vec<u8> = body.iter().copied().cycle().take(64 * 1024).collect();
    let mut screen = Screen::new(Stream::Pty, ModeFlags::default());
    let mut out = Vec::new();
    let base = NOW.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    screen.feed(head, &mut out);
    for _ in 0..256 {
        screen.feed(&chunk, &mut out);
        out.clear();
    }
    PEAK.load(Ordering::Relaxed) - base
}

#[test]
fn hostile_output_cannot_grow_the_screen() {
    const BOUND: usize = 512 * 1024;
    for (what, head, body) in [
        (
            "an unterminated OSC string",
            &b"\x1b]0;"[..],
            &b"title "[..],
        ),
        ("an unterminated DCS string", b"\x1bPq", b"#0;2;0;0;0"),
        ("one endless line", b"", b"x"),
        (
            "an endless line of wide characters",
            b"",
            "\u{e9}\u{4e2d}".as_bytes(),
        ),
        ("endless CSI parameters", b"\x1b[", b"1;"),
        ("TABs and cursor jumps past the cap", b"x", b"\t\x1b[9999Cy"),
    ] {
        let grew = growth(head, body);
        assert!(grew < BOUND, "{what}: the heap grew by {grew} bytes");
    }
}
