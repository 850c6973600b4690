"""The supervise loop: crash-to-verified-respawn latency and idle CPU, for 10 and 50 agents.

Usage: python bench/supervise_bench.py [--idle 60] [--crashes 5] [--sizes 10,50]
Each agent is bench/agents/tcp_agent.py on a loopback port. A crash is SIGKILL to the
process holding the port; latency is measured to the port accepting again and to the
new run's `verified` event. Idle CPU is utime+stime of the supervise process (and its
children) over the idle window, with every agent healthy.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fleet import TCP_AGENT, cpu_seconds, fleetctl, print_table, summary, throwaway_fleet, wait

BASE_PORT = 31000


def accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.05)
        return s.connect_ex(("127.0.0.1", port)) == 0


def listener(port: int) -> int:
    out = subprocess.run(["ss", "-Htlnp", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return int(out.split("pid=")[1].split(",")[0]) if "pid=" in out else 0


def supervisor_pid(name: str) -> int:
    argv = ["tmux", "-L", f"fleetctl-{name}", "list-panes", "-a", "-F", "#{window_name} #{pane_pid}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return next(int(line.split()[1]) for line in out.splitlines() if line.startswith("_supervisor "))


def verified_count(db: Path, agent: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM events WHERE kind = 'verified' AND agent = ?", (agent,)).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle CPU measurement")
    parser.add_argument("--crashes", type=int, default=5)
    parser.add_argument("--sizes", default="10,50")
    args = parser.parse_args()
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        name = f"supbench{n}"
        body = f"""
        [defaults]
        backoff = "0s"
        min_uptime = "0.2s"
        stop_timeout = "2s"
        max_respawns = 1000
        [agents.a]
        command = "{sys.executable} {TCP_AGENT} {{port}}"
        port = {BASE_PORT}
        replicas = {n}
        """
        with throwaway_fleet(name, body, supervisor=True) as config:
            fleetctl(config, "up")
            db = config.parent / ".fleet" / "fleet.db"
            sup = wait_pid(lambda name=name: supervisor_pid(name))
            time.sleep(1.0)  # let the loop settle into its idle wait
            before = cpu_seconds(sup)
            time.sleep(args.idle)
            idle_cpu = cpu_seconds(sup) - before
            to_port, to_verified = [], []
            for i in range(args.crashes):
                agent, port = f"a-{i % n + 1}", BASE_PORT + i % n
                seen = verified_count(db, agent)
                victim = listener(port)
                start = time.perf_counter()
                os.kill(victim, signal.SIGKILL)
                wait(lambda port=port, victim=victim: accepts(port) and listener(port) not in (0, victim), 10)
                to_port.append((time.perf_counter() - start) * 1000)
                wait(lambda agent=agent, seen=seen, db=db: verified_count(db, agent) > seen, 10)
                to_verified.append((time.perf_counter() - start) * 1000)
                time.sleep(0.3)
            port = [f"{v:.0f}" for v in summary(to_port)]
            verified = [f"{v:.0f}" for v in summary(to_verified)]
            rows.append([n, *port, *verified, f"{idle_cpu:.3f}", f"{idle_cpu / args.idle * 100:.3f}%"])
    print(f"supervise: {args.crashes} crashes per size (ms), idle CPU over {args.idle:g}s")
    print_table(["agents", "port med", "min", "max", "verified med", "min", "max", "idle cpu-s", "of a core"], rows)
    print(json.dumps({"rows": rows}))


def wait_pid(get: object) -> int:
    deadline = time.monotonic() + 10
    while True:
        try:
            return get()  # type: ignore[operator,no-any-return]
        except (StopIteration, subprocess.CalledProcessError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


if __name__ == "__main__":
    main()
