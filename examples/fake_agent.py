"""A stand-in for a coding agent: prints work as it goes and serves a status port.

Usage: fake_agent.py [PORT]   (PORT defaults to $FLEET_PORT; no port: no server)
"""

from __future__ import annotations

import http.server
import itertools
import json
import os
import sys
import threading
import time

STEPS = ["reading the task", "planning", "editing files", "running tests", "writing the summary"]


class Status(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"agent": os.environ.get("FLEET_AGENT"), "ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("FLEET_PORT", "0") or 0)
    interval = float(os.environ.get("FAKE_AGENT_INTERVAL", "2"))
    if port:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Status)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    name = os.environ.get("FLEET_AGENT", "agent")
    print(f"{name}: started (pid {os.getpid()})", flush=True)
    for n in itertools.count(1):
        print(f"{name}: step {n}: {STEPS[n % len(STEPS)]}", flush=True)
        time.sleep(interval)


if __name__ == "__main__":
    main()
