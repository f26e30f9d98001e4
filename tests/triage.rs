//! The live path's triage when the triage agent itself is broken.

mod common;

use common::{read_jsonl, run_piped};

#[test]
fn a_broken_triage_agent_is_not_asked_again_for_every_recurrence() {
    // A server hit a few times a second logs the same traceback for every
    // request. When the triage call fails (agent not logged in, no network),
    // asking again for each request would start a model call and print a
    // warning every time: the same error waits before it is asked again.
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::tempdir().expect("tempdir");
    let log = logs.path().join("agent.jsonl");
    let events = logs.path().join("events.jsonl");
    std::fs::write(
        dir.path().join("server.py"),
        "import sys, time, traceback\n\
         events = sys.argv[1]\n\
         def said(what):\n\
         \x20   try:\n\
         \x20       return open(events).read().count(what)\n\
         \x20   except OSError:\n\
         \x20       return 0\n\
         def wait_for(what, n):\n\
         \x20   deadline = time.time() + 60\n\
         \x20   while said(what) < n and time.time() < deadline:\n\
         \x20       time.sleep(0.05)\n\
         def request():\n\
         \x20   try:\n\
         \x20       {}['user']\n\
         \x20   except KeyError:\n\
         \x20       traceback.print_exc()\n\
         \x20       sys.stderr.flush()\n\
         request()\n\
         wait_for('\"verdict\":\"failed\"', 1)\n\
         for i in range(2, 7):\n\
         \x20   time.sleep(0.3)\n\
         \x20   request()\n\
         \x20   wait_for('\"event\":\"suspect\"', i)\n\
         time.sleep(1)\n\
         print('served', flush=True)\n",
    )
    .expect("write server.py");
    let out = run_piped(
        &[
            "-v",
            "--events",
            events.to_str().unwrap(),
            "--",
            "python3",
            "server.py",
            events.to_str().unwrap(),
        ],
        &[
            ("FAKE_AGENT_LOG", &log.display().to_string()),
            ("FAKE_AGENT_EXIT", "1"),
        ],
        Some(dir.path()),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("served"));
    let suspects = read_jsonl(&events)
        .into_iter()
        .filter(|e| e["event"] == "suspect")
        .count();
    assert_eq!(suspects, 6, "{err}");
    let calls = read_jsonl(&log);
    assert_eq!(
        calls.len(),
        1,
        "the triage agent was asked {} times\n{err}",
        calls.len()
    );
    assert_eq!(calls[0]["mode"], "triage");
    assert_eq!(err.matches("Triage failed").count(), 1, "{err}");
    assert!(err.contains("not triaged again for 30s"), "{err}");
}
