#!/usr/bin/env python3
"""An example pool agent: reads its task file, "works", and sometimes fails.

    [pools.coder]
    command = "python3 examples/task_agent.py --task-file {task_file} --workdir {workspace}"

How it behaves (for demos and tests):
  - a title containing [hang] hangs (for wall_timeout), [fail] always fails with one error line,
    [done-cli] finishes through `fleetctl task done` instead of its exit code;
  - otherwise it fails with probability TASK_AGENT_FAIL_RATE (default 0), decided by a hash of
    (task id, attempt), so a retry usually succeeds and every run is reproducible;
  - it works TASK_AGENT_SECONDS (default 0) and writes RESULT-<id>.txt into the workdir;
  - with TASK_AGENT_LEDGER=DIR it holds DIR/<id>.running while it works (O_EXCL) and appends to
    DIR/duplicates if another agent already runs the same task, and to DIR/runs one line per run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time


def _fails(task_id: int, attempt: int, rate: float) -> bool:
    digest = hashlib.sha256(f"{task_id}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task-file", required=True)
    parser.add_argument("--workdir", default=".")
    args = parser.parse_args()
    with open(args.task_file, encoding="utf-8") as f:
        task = json.load(f)
    tid, attempt, title = task["id"], task["attempt"], task["title"]
    print(f"task {tid} attempt {attempt}: {title}", flush=True)
    ledger = os.environ.get("TASK_AGENT_LEDGER")
    marker = None
    if ledger:
        with open(os.path.join(ledger, "runs"), "a") as f:
            f.write(f"{tid} {attempt} {os.getpid()}\n")
        marker = os.path.join(ledger, f"{tid}.running")
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            with open(os.path.join(ledger, "duplicates"), "a") as f:
                f.write(f"{tid} {attempt}\n")
            marker = None
    try:
        if "[hang]" in title:
            print("waiting for something that never comes", flush=True)
            while True:
                time.sleep(3600)
        time.sleep(float(os.environ.get("TASK_AGENT_SECONDS", "0")))
        if "[fail]" in title or _fails(tid, attempt, float(os.environ.get("TASK_AGENT_FAIL_RATE", "0"))):
            print(f"Error: simulated failure of task {tid}", flush=True)
            return 3
        with open(os.path.join(args.workdir, f"RESULT-{tid}.txt"), "w") as f:
            f.write(f"{title}\n")
        if "[done-cli]" in title:
            cmd = [sys.executable, "-m", "fleetctl", "task", "done", str(tid), "--result", f"RESULT-{tid}.txt"]
            return subprocess.run(cmd, check=False).returncode
        print(f"task {tid} done", flush=True)
        return 0
    finally:
        if marker:
            os.unlink(marker)


if __name__ == "__main__":
    sys.exit(main())
