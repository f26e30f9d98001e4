//! What more than one bench does.

use otorepair::detect::{DetectSettings, Detector};
use otorepair::line::Line;
use std::time::{Duration, Instant};

/// Pushes `lines` through a fresh detector with a fake clock (1 ms a line),
/// polling whenever a deadline passes, as the supervisor does.
pub fn run_detector(lines: Vec<Line>) -> Detector {
    let mut d = Detector::new(DetectSettings::default()).expect("defaults");
    let t0 = Instant::now();
    for (i, l) in lines.into_iter().enumerate() {
        let now = t0 + Duration::from_millis(i as u64);
        d.push(l, now);
        if d.deadline().is_some_and(|dl| dl <= now) {
            std::hint::black_box(d.poll(now));
        }
    }
    d
}
