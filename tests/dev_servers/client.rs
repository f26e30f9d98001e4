//! The dev-server tests' HTTP client: a request every so often, as a browser
//! left open (or a health check) would make, and for Vite the browser's HMR
//! websocket, without which Vite neither pushes nor logs an update.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{self, Term};

/// One response as the client saw it: `200 fixed`, `500 ...`, or `refused`.
#[derive(Debug, Clone)]
pub struct Seen {
    pub status: u16,
    pub body: String,
}

impl Seen {
    /// An error page, or the connection dropped by a process dying on the request.
    pub fn answered_by_the_bug(&self) -> bool {
        self.status == 500 || (self.status == 0 && self.body != "refused")
    }

    pub fn is_fixed(&self) -> bool {
        self.status == 200 && self.body.contains("fixed")
    }
}

/// `GET path` on 127.0.0.1:`port`, read to the end.
pub fn get(port: u16, path: &str) -> Seen {
    let failed = |why: &str| Seen {
        status: 0,
        body: why.to_string(),
    };
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return failed("refused");
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return failed("write failed");
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Seen { status, body }
}

/// What the client asks for, and how often.
#[derive(Debug, Clone, Copy)]
pub struct Requests {
    pub path: &'static str,
    /// The pause after each answer.
    pub every: Duration,
    /// Open Vite's HMR websocket first, as the page's `/@vite/client` does.
    pub hmr: bool,
}

/// Vite's HMR websocket, opened as its client script does (the token it embeds,
/// the `vite-hmr` protocol); `None` until the server answers.
fn open_hmr_socket(port: u16) -> Option<TcpStream> {
    let script = get(port, "/@vite/client");
    let token = script
        .body
        .split_once("const wsToken = \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(token, _)| token.to_string())?;
    let mut socket = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let handshake = format!(
        "GET /?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: vite-hmr\r\n\r\n"
    );
    socket.write_all(handshake.as_bytes()).ok()?;
    let _ = socket.set_read_timeout(Some(Duration::from_secs(10)));
    let mut answer = [0u8; 512];
    let n = socket.read(&mut answer).ok()?;
    String::from_utf8_lossy(&answer[..n])
        .starts_with("HTTP/1.1 101")
        .then_some(socket)
}

/// Hits the server until dropped.
pub struct Client {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Client {
    pub fn start(port: u16, requests: Requests) -> Client {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = thread::spawn(move || {
            // Bounded: the test's deadline is far shorter.
            let end = Instant::now() + Duration::from_secs(300);
            let mut hmr = None;
            while !stop2.load(Ordering::SeqCst) && Instant::now() < end {
                if requests.hmr && hmr.is_none() {
                    hmr = open_hmr_socket(port);
                    if hmr.is_none() {
                        thread::sleep(requests.every);
                        continue;
                    }
                }
                let s = get(port, requests.path);
                seen2.lock().unwrap().push(s);
                thread::sleep(requests.every);
            }
        });
        Client {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for what the client has seen.
    pub fn wait_for(&self, pred: impl Fn(&[Seen]) -> bool, what: &str, t: &Term) {
        let deadline = Instant::now() + common::DEADLINE;
        while !pred(&self.seen()) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; client saw {:?}\nterminal:\n{}",
                self.seen(),
                t.text()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
