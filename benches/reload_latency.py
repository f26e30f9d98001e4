#!/usr/bin/env python3
"""How fast a fix takes effect on real dev servers, per server (median of RUNS):

  write -> evidence   the agent's last write to the file, to otorepair's reload
                      evidence (`reload` event: new process, reloader line, restart)
  write -> live       the last write to the fix being live (`live` event: the new
                      code's start-up output has settled)
  error -> healed     the first error response, to the first fixed response, as a
                      client polling every 200 ms sees them (detection, triage,
                      fix, reload all included)

Timestamps come from the agent itself (after its write), the client, and the
events file, not from otorepair's own messages. The agent and the triage are
instant scripts, so the numbers are otorepair's and the server's share.

    benches/reload_latency.py [RUNS]      (default 5; builds --release first)

Needs tests/dev_servers/install.sh (run here). Uses only 127.0.0.1.
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "target", "dev-servers")
BIN = os.path.join(ROOT, "target", "release", "otorepair")

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

VENV = os.path.join(TOOLS, "venv", "bin")
SERVERS = [
    ("flask --debug", {"app.py": FLASK_APP}, lambda p: [f"{VENV}/flask", "--app", "app", "run", "--debug", "--port", str(p)],
     ("app.py", "'total: %s' % cart['total']", "'fixed'")),
    ("flask (no reloader)", {"app.py": FLASK_APP}, lambda p: [f"{VENV}/flask", "--app", "app", "run", "--port", str(p)],
     ("app.py", "'total: %s' % cart['total']", "'fixed'")),
    ("uvicorn --reload", {"main.py": ASGI_APP}, lambda p: [f"{VENV}/uvicorn", "main:app", "--reload", "--port", str(p)],
     ("main.py", "('total: %s' % cart['total']).encode()", "b'fixed'")),
    ("django runserver", DJANGO, lambda p: [f"{VENV}/python", "manage.py", "runserver", f"127.0.0.1:{p}"],
     ("shop/views.py", "'total: %s' % cart['total']", "'fixed'")),
    ("nodemon", {"server.js": NODE_SERVER}, lambda p: [f"{TOOLS}/node_modules/.bin/nodemon", "server.js"],
     ("server.js", "'total: ' + cart.total", "'fixed'")),
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


def get(port):
    """(status, body): status -1 when refused, 0 when the connection dropped."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError:
        return -1, ""
    data = b""
    try:
        with s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
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


def one_run(name, files, command, fix):
    work = tempfile.mkdtemp(prefix="reload-bench-")
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
    first_error = healed = None
    deadline = time.time() + 90
    try:
        while time.time() < deadline:
            status, body = get(port)
            now = time.time()
            # An error page, or a process dying on the request (node under nodemon).
            if first_error is None and status in (500, 0):
                first_error = now
            if status == 200 and "fixed" in body and healed is None:
                healed = now
            if healed is not None and (live_seen(events) or now > healed + 10):
                break
            time.sleep(0.2)
    finally:
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
    subprocess.run([os.path.join(ROOT, "tests/dev_servers/install.sh")], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    print(f"{'server':22} {'evidence':10} {'write -> evidence':32} {'write -> live':32} {'error -> healed':32} fixes")
    for name, files, command, fix in SERVERS:
        results = [one_run(name, files, command, fix) for _ in range(runs)]
        kinds = sorted({r["evidence"] for r in results})
        fixes = sorted({r["fixes"] for r in results})
        print(f"{name:22} {'/'.join(kinds):10} {ms(r['write_to_evidence'] for r in results):32} "
              f"{ms(r['write_to_live'] for r in results):32} {ms(r['error_to_healed'] for r in results):32} "
              f"{fixes}", flush=True)


if __name__ == "__main__":
    main()
