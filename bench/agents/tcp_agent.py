"""A tiny TCP agent for the fleet benchmarks (stdlib only, fast to start).

Usage: tcp_agent.py PORT [--delay SECONDS] [--ignore-term] [--grandchild] [--tag TEXT]

Binds 127.0.0.1:PORT after the delay, then accepts and closes connections forever.

--ignore-term  ignore the polite stop signals: SIGTERM, and also SIGINT (PM2's default stop
               signal) and SIGHUP (what tmux sends when a window or server is killed), so
               only SIGKILL ends it.
--grandchild   before binding, spawn a child (a python sleep loop in a new session, so it
               escapes the agent's process group) that ignores the same signals and lives
               until it is killed.
--tag TEXT     ignored; lets the caller put a marker into the command line (the grandchild
               gets it too) so that every process of a benchmark run can be found in /proc.
"""

from __future__ import annotations

import signal
import socket
import sys
import time

POLITE_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
GRANDCHILD_CODE = (
    "import signal,time\n"
    "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
    "    signal.signal(s, signal.SIG_IGN)\n"
    "while True:\n"
    "    time.sleep(3600)\n"
)
USAGE = "usage: tcp_agent.py PORT [--delay SECONDS] [--ignore-term] [--grandchild] [--tag TEXT]"


class Options:
    __slots__ = ("delay", "grandchild", "ignore_term", "port", "tag")

    def __init__(self) -> None:
        self.port = 0
        self.delay = 0.0
        self.ignore_term = False
        self.grandchild = False
        self.tag = ""


def parse(argv: list[str]) -> Options:
    """Hand-rolled parsing: argparse would double the start-up time."""
    opts = Options()
    args = iter(argv)
    positional: list[str] = []
    for arg in args:
        if arg == "--delay":
            opts.delay = float(next(args))
        elif arg == "--tag":
            opts.tag = next(args)
        elif arg == "--ignore-term":
            opts.ignore_term = True
        elif arg == "--grandchild":
            opts.grandchild = True
        elif arg.startswith("-"):
            raise SystemExit(USAGE)
        else:
            positional.append(arg)
    if len(positional) != 1 or not positional[0].isdigit():
        raise SystemExit(USAGE)
    opts.port = int(positional[0])
    return opts


def spawn_grandchild(tag: str) -> None:
    import subprocess

    subprocess.Popen(
        [sys.executable, "-S", "-c", GRANDCHILD_CODE, "grandchild", tag],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def serve(port: int) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(128)
    while True:
        conn, _ = server.accept()
        conn.close()


def main(argv: list[str]) -> None:
    opts = parse(argv)
    if opts.ignore_term:
        for sig in POLITE_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
    if opts.grandchild:
        spawn_grandchild(opts.tag)
    if opts.delay > 0:
        time.sleep(opts.delay)
    serve(opts.port)


if __name__ == "__main__":
    main(sys.argv[1:])
