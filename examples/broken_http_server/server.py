"""An HTTP server that keeps running but raises on every GET.

The traceback is printed by the server's error handler while the process stays
alive: otorepair's live path (detect, triage, fix, then hot reload or restart).
Try: curl -s http://127.0.0.1:8765/
"""

import os
import sys
import traceback
from http.server import BaseHTTPRequestHandler, HTTPServer


def render_greeting(name):
    raise RuntimeError(f"greeting template for {name!r} is missing")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            body = render_greeting("world").encode()
        except Exception:
            traceback.print_exc()
            self.send_error(500)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))


def main():
    port = int(os.environ.get("PORT", "8765"))
    server = HTTPServer(("127.0.0.1", port), Handler)
    print(f"Serving on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
