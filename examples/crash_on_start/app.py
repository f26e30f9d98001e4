"""A tiny web app that crashes on start: PORT is not set.

otorepair sees the crash (no triage needed: the process died) and asks the agent
to fix it; the usual fix is os.environ.get("PORT", "8765").
Set ONESHOT=1 to exit right after the server is ready (used by the tests).
"""

import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    port = int(os.environ["PORT"])
    server = HTTPServer(("127.0.0.1", port), Hello)
    print(f"Serving on http://127.0.0.1:{server.server_port}", flush=True)
    if os.environ.get("ONESHOT"):
        return
    server.serve_forever()


if __name__ == "__main__":
    main()
