"""`fleetctl status --json` wall time and tmux subprocesses per call, for 10, 50 and 200 agents.

Usage: python bench/status_bench.py [--runs 10] [--sizes 10,50,200]
The tmux count comes from a PATH shim that logs every tmux invocation of the status process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fleet import fleetctl, print_table, summary, throwaway_fleet


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--sizes", default="10,50,200")
    args = parser.parse_args()
    shim = Path(tempfile.mkdtemp(prefix="fleetbench-shim-"))
    calls = shim / "calls"
    real = shutil.which("tmux")
    (shim / "tmux").write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {real} "$@"\n')
    (shim / "tmux").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}"}
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        body = f"""
        [agents.a]
        command = "sleep 100000"
        replicas = {n}
        min_uptime = "0s"
        """
        with throwaway_fleet(f"statusbench{n}", body) as config:
            fleetctl(config, "up")
            fleetctl(config, "status", "--json", env=env)  # warm the page cache
            times, counts = [], []
            for _ in range(args.runs):
                calls.write_text("")
                start = time.perf_counter()
                argv = [sys.executable, "-m", "fleetctl", "-c", str(config), "status", "--json"]
                subprocess.run(argv, env=env, capture_output=True, check=True)
                times.append((time.perf_counter() - start) * 1000)
                counts.append(len(calls.read_text().splitlines()))
            med, lo, hi = summary(times)
            rows.append([n, f"{med:.1f}", f"{lo:.1f}", f"{hi:.1f}", f"{min(counts)}-{max(counts)}"])
    shutil.rmtree(shim, ignore_errors=True)
    print(f"fleetctl status --json, {args.runs} runs each (ms; tmux subprocesses per status)")
    print_table(["agents", "median", "min", "max", "tmux calls"], rows)


if __name__ == "__main__":
    main()
