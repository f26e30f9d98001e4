#!/usr/bin/env python3
"""How fast a fix takes effect on real dev servers, per server (median of RUNS):

  write -> evidence   the agent's last write to the file, to otorepair's reload
                      evidence (`reload` event: new process, reloader line, restart)
  write -> live       the last write to the fix being live (`live` event: the new
                      code's start-up output has settled)
  error -> healed     the first error response, to the first fixed response, as a
                      client polling every 200 ms sees them (detection, triage,
                      fix, reload all included; 40 ms for the hammered Flask
                      row; Vite's client also holds the page's HMR websocket
                      open; none for tsc --watch, which serves nothing)

Timestamps come from the agent itself (after its write), the client, and the
events file, not from otorepair's own messages. The agent and the triage are
instant scripts, so the numbers are otorepair's and the server's share.

    benches/reload_latency.py [RUNS] [NAME...]   (default 5 runs of every
                                                  server; builds --release first)

RELOAD_BENCH_BIN=/path/to/otorepair measures that binary instead (an older
build, to compare in one session). Needs tests/dev_servers/install.sh (run
here). Uses only 127.0.0.1.
"""

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "target", "dev-servers")
BIN = os.environ.get("RELOAD_BENCH_BIN") or os.path.join(ROOT, "target", "release", "otorepair")

FLASK_APP = """from flask import Flask
app = Flask(__name__)

@app.route('/')
def index():
    cart = {}
    return 'total: %s' % cart['total']
"""
ASGI_APP = """async def app(scope, receive, send):
    if scope['type'] != 'http':
        return
    cart = {}
    body = ('total: %s' % cart['total']).encode()
    await send({'type': 'http.response.start', 'status': 200, 'headers': []})
    await send({'type': 'http.response.body', 'body': body})
"""
NODE_SERVER = """const http = require('http');
http.createServer((req, res) => {
  const cart = undefined;
  res.end('total: ' + cart.total);
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
"""
DJANGO = {
    "manage.py": "import os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shop.settings')\n"
    "from django.core.management import execute_from_command_line\nexecute_from_command_line(sys.argv)\n",
    "shop/__init__.py": "",
    "shop/settings.py": "SECRET_KEY = 'dev-only'\nDEBUG = True\nALLOWED_HOSTS = ['*']\n"
    "ROOT_URLCONF = 'shop.urls'\nINSTALLED_APPS = []\nDATABASES = {}\nMIDDLEWARE = []\n",
    "shop/urls.py": "from django.urls import path\nfrom shop import views\nurlpatterns = [path('', views.index)]\n",
    "shop/views.py": "from django.http import HttpResponse\n\ndef index(request):\n"
    "    cart = {}\n    return HttpResponse('total: %s' % cart['total'])\n",
}

VITE = {
    "index.html": '<!doctype html>\n<html><body><div id="app"></div>'
    '<script type="module" src="/src/main.js"></script></body></html>\n',
    "src/main.js": "import { total } from './cart.js'\n"
    "document.querySelector('#app').textContent = 'total: ' + total([1, 2])\n",
    "src/cart.js": "export function total(items) {\n  return items.reduce((a, b) => a + b, 0\n}\n",
}
TSC = {
    "tsconfig.json": '{ "compilerOptions": { "strict": true, "noEmit": true, "target": "es2022" }, "include": ["src"] }\n',
    "src/cart.ts": "export function total(items: number[]): string {\n"
    "  const sum: number = items.reduce((a, b) => a + b, 0);\n"
    "  const label: string = sum;\n  return label;\n}\n",
}

VENV = os.path.join(TOOLS, "venv", "bin")
NODE_BIN = os.path.join(TOOLS, "node_modules", ".bin")
FLASK_FIX = ("app.py", "'total: %s' % cart['total']", "'fixed'")


def server(name, files, command, fix, path="/", every=0.2, hmr=False, http=True):
    return dict(name=name, files=files, command=command, fix=fix, path=path, every=every, hmr=hmr, http=http)


SERVERS = [
    server("flask --debug", {"app.py": FLASK_APP},
           lambda p: [f"{VENV}/flask", "--app", "app", "run", "--debug", "--port", str(p)], FLASK_FIX),
    server("flask --debug, 25/s", {"app.py": FLASK_APP},
           lambda p: [f"{VENV}/flask", "--app", "app", "run", "--debug", "--port", str(p)], FLASK_FIX,
           every=0.04),
    server("flask (no reloader)", {"app.py": FLASK_APP},
           lambda p: [f"{VENV}/flask", "--app", "app", "run", "--port", str(p)], FLASK_FIX),
    server("uvicorn --reload", {"main.py": ASGI_APP},
           lambda p: [f"{VENV}/uvicorn", "main:app", "--reload", "--port", str(p)],
           ("main.py", "('total: %s' % cart['total']).encode()", "b'fixed'")),
    server("django runserver", DJANGO,
           lambda p: [f"{VENV}/python", "manage.py", "runserver", f"127.0.0.1:{p}"],
           ("shop/views.py", "'total: %s' % cart['total']", "'fixed'")),
    server("nodemon", {"server.js": NODE_SERVER}, lambda p: [f"{NODE_BIN}/nodemon", "server.js"],
           ("server.js", "'total: ' + cart.total", "'fixed'")),
    server("vite", VITE,
           lambda p: [f"{NODE_BIN}/vite", "--host", "127.0.0.1", "--port", str(p), "--strictPort"],
           ("src/cart.js", "a + b, 0\n", "a + b, 0) // fixed\n"), path="/src/cart.js", hmr=True),
    server("tsc --watch", TSC, lambda p: [f"{NODE_BIN}/tsc", "--watch"],
           ("src/cart.ts", "const label: string = sum;", "const label: string = String(sum);"), http=False),
]

AGENT = """import os, sys, time
sys.stdin.read()
path, old, new = os.environ['FIX_FILE'], os.environ['FIX_OLD'], os.environ['FIX_NEW']
text = open(path).read()
with open(path, 'w') as f:
    f.write(text.replace(old, new, 1))
open(os.environ['WRITTEN_AT'], 'w').write(repr(time.time()))
print('Edited ' + path)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path="/"):
    """(status, body): status -1 when refused, 0 when the connection dropped."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError:
        return -1, ""
    data = b""
    try:
        with s:
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        pass
    text = data.decode("utf-8", "replace")
    parts = text.split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, text.split("\r\n\r\n", 1)[-1]


def hmr_socket(port):
    """Vite's HMR websocket, opened as the page's /@vite/client does; None until
    the server answers. Without it Vite neither pushes nor logs an update."""
    status, script = get(port, "/@vite/client")
    token = re.search(r'const wsToken = "([^"]+)"', script) if status == 200 else None
    if not token:
        return None
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall((f"GET /?token={token.group(1)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: vite-hmr\r\n\r\n").encode())
        if s.recv(512).startswith(b"HTTP/1.1 101"):
            return s
        s.close()
    except OSError:
        pass
    return None


def one_run(srv):
    files, command, fix = srv["files"], srv["command"], srv["fix"]
    # One level down: tsc --watch does not watch a project right under /tmp.
    work = os.path.join(tempfile.mkdtemp(prefix="reload-bench-"), "project")
    for rel, text in files.items():
        path = os.path.join(work, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    logs = tempfile.mkdtemp(prefix="reload-bench-logs-")
    agent = os.path.join(logs, "agent.py")
    with open(agent, "w") as f:
        f.write(AGENT)
    events = os.path.join(logs, "events.jsonl")
    written = os.path.join(logs, "written_at")
    port = free_port()
    env = dict(os.environ, PORT=str(port), FIX_FILE=fix[0], FIX_OLD=fix[1], FIX_NEW=fix[2], WRITTEN_AT=written)
    args = [BIN, "--pty", "--events", events, "--agent-cmd", f"python3 {agent}",
            "--triage-cmd", "cat >/dev/null; echo ERROR", "--"] + command(port)
    proc = subprocess.Popen(args, cwd=work, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    first_error = healed = hmr = None
    deadline = time.time() + 90
    try:
        while time.time() < deadline:
            if not srv["http"]:
                if live_seen(events):
                    break
                time.sleep(0.2)
                continue
            if srv["hmr"] and hmr is None:
                hmr = hmr_socket(port)
                if hmr is None:
                    time.sleep(srv["every"])
                    continue
            status, body = get(port, srv["path"])
            now = time.time()
            # An error page, or a process dying on the request (node under nodemon).
            if first_error is None and status in (500, 0):
                first_error = now
            if status == 200 and "fixed" in body and healed is None:
                healed = now
            if healed is not None and (live_seen(events) or now > healed + 10):
                break
            time.sleep(srv["every"])
    finally:
        if hmr is not None:
            hmr.close()
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
    evs = []
    if os.path.exists(events):
        with open(events) as f:
            evs = [json.loads(line) for line in f if line.strip()]
    write_at = float(open(written).read()) if os.path.exists(written) else None
    reload_ev = next((e for e in evs if e["event"] == "reload"), None)
    live_ev = next((e for e in evs if e["event"] == "live"), None)
    fixes = sum(1 for e in evs if e["event"] == "fix_start")
    return {
        "error_to_healed": (healed - first_error) if healed and first_error else None,
        "write_to_evidence": (reload_ev["ts"] - write_at) if reload_ev and write_at else None,
        "write_to_live": (live_ev["ts"] - write_at) if live_ev and write_at else None,
        "evidence": reload_ev["evidence"] if reload_ev else "none",
        "fixes": fixes,
    }


def live_seen(events):
    try:
        with open(events) as f:
            return any('"event":"live"' in line for line in f)
    except OSError:
        return False


def ms(values):
    vals = [v * 1000 for v in values if v is not None]
    if not vals:
        return "n/a"
    return f"{statistics.median(vals):7.0f} ms (min {min(vals):.0f}, max {max(vals):.0f})"


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    names = sys.argv[2:]
    subprocess.run([os.path.join(ROOT, "tests/dev_servers/install.sh")], check=True, stdout=subprocess.DEVNULL)
    if not os.environ.get("RELOAD_BENCH_BIN"):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    print(f"{'server':22} {'evidence':10} {'write -> evidence':32} {'write -> live':32} {'error -> healed':32} fixes")
    for srv in SERVERS:
        name = srv["name"]
        if names and name not in names:
            continue
        results = [one_run(srv) for _ in range(runs)]
        kinds = sorted({r["evidence"] for r in results})
        fixes = sorted({r["fixes"] for r in results})
        print(f"{name:22} {'/'.join(kinds):10} {ms(r['write_to_evidence'] for r in results):32} "
              f"{ms(r['write_to_live'] for r in results):32} {ms(r['error_to_healed'] for r in results):32} "
              f"{fixes}", flush=True)


if __name__ == "__main__":
    main()
