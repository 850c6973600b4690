"""A wrapper that will not die: ignores SIGTERM and leaves a setsid grandchild behind.

The grandchild calls setsid (it leaves the process group) and also ignores SIGTERM and
SIGHUP; with --port it holds the listening socket. Only a kill that follows FLEET_RUN
finds it.

Usage: stubborn_agent.py [PORT]
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time


def grandchild(sock: socket.socket | None) -> None:
    os.setsid()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if sock is not None:
        while True:
            conn, _ = sock.accept()
            conn.close()
    while True:
        time.sleep(3600)


def main() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sock = None
    if len(sys.argv) > 1:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", int(sys.argv[1])))
        sock.listen(16)
    if os.fork() == 0:
        if os.fork() == 0:
            grandchild(sock)
        os._exit(0)
    name = os.environ.get("FLEET_AGENT", "stubborn")
    print(f"{name}: running; I ignore SIGTERM and my grandchild called setsid", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
