"""Shared plumbing for the model-API mocks (stdlib only).

Each mock binds 127.0.0.1 on a free port (or --port N), prints `PORT <n>` as its
first stdout line, and appends every request as one JSON line to the log file
given by --log FILE (or $MOCK_LOG): {"method", "path", "headers", "body"}.

The scripted answers are driven by the conversation in each request (never by
global state), so retries are safe. Configuration, shared by all three mocks:
  MOCK_OLD         text the edit replaces      (default: os.environ["PORT"])
  MOCK_NEW         replacement                 (default: os.environ.get("PORT", "8765"))
  MOCK_FINAL_TEXT  last assistant message      (default: Fixed: PORT now has a default.)
  MOCK_TRIAGE_TEXT answer to a triage request (default: ERROR): one that offers no
                   tools, or whose prompt matches MOCK_TRIAGE_MARKER (a regex, default
                   `one word: ERROR or NO`, otorepair's triage question; codex and gemini
                   triage runs still offer read-only tools)
  MOCK_TARGET_FILE file to fix when the prompt names none
"""

import argparse
import gzip
import json
import os
import re
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OLD = os.environ.get("MOCK_OLD", 'os.environ["PORT"]')
NEW = os.environ.get("MOCK_NEW", 'os.environ.get("PORT", "8765")')
FINAL_TEXT = os.environ.get("MOCK_FINAL_TEXT", "Fixed: PORT now has a default.")
TRIAGE_TEXT = os.environ.get("MOCK_TRIAGE_TEXT", "ERROR")
TRIAGE_MARKER = re.compile(os.environ.get("MOCK_TRIAGE_MARKER", r"one word: ERROR or NO"))

LOGGED_HEADERS = (
    "user-agent", "content-type", "accept", "anthropic-version", "anthropic-beta",
    "x-app", "openai-beta", "originator", "version", "session_id", "x-goog-api-client",
    "content-encoding",
)
SECRET_HEADERS = ("x-api-key", "authorization", "x-goog-api-key")

_log_lock = threading.Lock()
_log_path = None

TRACEBACK_FILE = re.compile(r'File "([^"]+)", line \d+')


def is_triage(prompt_text, has_tools):
    return not has_tools or bool(TRIAGE_MARKER.search(prompt_text))


def target_file(prompt_text):
    """The innermost project file named in a Python traceback in the prompt."""
    found = None
    for path in TRACEBACK_FILE.findall(prompt_text):
        if "/lib/python" in path or path.startswith("<"):
            continue
        if os.path.isabs(path) and os.path.exists(path):
            found = path
    if found is None:
        found = os.environ.get("MOCK_TARGET_FILE")
    if found is None:
        # Fall back to any absolute path ending in .py mentioned in the prompt.
        for path in re.findall(r"(/[\w./-]+\.py)\b", prompt_text):
            if os.path.exists(path) and "/lib/python" not in path:
                found = path
    return found or "app.py"


def patched_line(path):
    """(old line, new line) of the first line of `path` containing OLD, or None."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f.read().splitlines():
                if OLD in line:
                    return line, line.replace(OLD, NEW, 1)
    except OSError:
        pass
    return None


def log_request(method, path, headers, body):
    entry = {
        "method": method,
        "path": path,
        "headers": {k: headers[k] for k in LOGGED_HEADERS if headers.get(k) is not None},
        "auth": sorted(k for k in SECRET_HEADERS if headers.get(k)),
        "body": body,
    }
    line = json.dumps(entry, ensure_ascii=False)
    with _log_lock:
        if _log_path:
            with open(_log_path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        if os.environ.get("MOCK_VERBOSE"):
            print(f"{method} {path}", file=sys.stderr, flush=True)


def sse(events):
    """Server-sent events body from (event name or None, payload dict) pairs."""
    out = []
    for name, data in events:
        if name:
            out.append(f"event: {name}\n")
        out.append(f"data: {json.dumps(data, ensure_ascii=False)}\n\n")
    return "".join(out).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Subclasses: route(method, path, body) -> (status, content_type, bytes)
    route = None

    def log_message(self, fmt, *args):  # quiet
        pass

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw and self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            raw = b"".join(chunks)
        enc = (self.headers.get("Content-Encoding") or "").lower()
        try:
            if enc == "gzip":
                raw = gzip.decompress(raw)
            elif enc == "deflate":
                raw = zlib.decompress(raw)
        except Exception:
            pass
        if not raw:
            return None
        try:
            return json.loads(raw)
        except Exception:
            return {"_raw": raw[:2000].decode("utf-8", "replace"), "_encoding": enc}

    def _handle(self, method):
        body = self._read_body() if method in ("POST", "PUT", "PATCH") else None
        headers = {k.lower(): v for k, v in self.headers.items()}
        log_request(method, self.path, headers, body)
        try:
            status, ctype, payload = self.route(method, self.path, body)
        except Exception as e:  # a mock bug must be visible, not a hang
            import traceback
            traceback.print_exc()
            status, ctype, payload = 500, "application/json", json.dumps(
                {"error": {"message": f"mock error: {e}"}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        if ctype.startswith("text/event-stream"):
            self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(payload)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_HEAD(self):
        self._handle("HEAD")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")


def serve(route, description):
    global _log_path
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--log", default=os.environ.get("MOCK_LOG"), help="JSONL request log")
    ap.add_argument("--port", type=int, default=int(os.environ.get("MOCK_PORT", "0")))
    args = ap.parse_args()
    _log_path = args.log
    if _log_path:
        open(_log_path, "a").close()

    handler = type("H", (Handler,), {"route": staticmethod(route)})
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.daemon_threads = True
    print(f"PORT {server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def json_response(obj, status=200):
    return status, "application/json", json.dumps(obj).encode()
