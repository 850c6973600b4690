"""The overnight run's fake agent: what it does is decided by its task's title and attempt alone.

    [ok]         writes "ok" to RESULT in its workspace and exits 0 (the gate passes: done)
    [review]     writes "broken" to RESULT and exits 0 (the gate fails: needs-review)
    [fail]       prints an error and exits 1, every attempt (needs-human)
    [flaky]      fails like [fail] on attempt 1, then works like [ok]
    [hang]       prints one line and waits silently, every attempt (killed at idle_timeout)
    [hang-once]  waits silently on attempt 1 (killed at idle_timeout), then works like [ok]
    [overrun]    prints a line every 0.2 s forever (never idle: killed at wall_timeout)
    [give-up]    reports `fleetctl task fail` itself, then exits 0 (failed, no retry)

Each run appends "<task id> <attempt>" to $OVERNIGHT_LEDGER/runs and holds
$OVERNIGHT_LEDGER/<id>.running (with its pid) while it works; a run of a task while an
earlier run's pid still holds it appends to $OVERNIGHT_LEDGER/duplicates.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


def _work(workspace: str, text: str) -> int:
    with open(os.path.join(workspace, "RESULT"), "w") as f:
        f.write(text + "\n")
    print(f"wrote {text}", flush=True)
    return 0


def _behave(tid: int, title: str, attempt: int, workspace: str) -> int:
    if ("[hang-once]" in title and attempt == 1) or "[hang]" in title:
        while True:
            time.sleep(3600)
    if "[overrun]" in title:
        while True:
            print("still working", flush=True)
            time.sleep(0.2)
    if "[give-up]" in title:
        argv = [sys.executable, "-m", "fleetctl", "task", "fail", str(tid), "--reason", "the issue is not reproducible"]
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as said:
            while said.poll() is None:  # a loaded machine starts the CLI slowly: stay short of idle_timeout
                print("reporting", flush=True)
                time.sleep(0.2)
            print(said.communicate()[0], f"task fail: exit {said.returncode}", flush=True)
        return 0
    if "[fail]" in title or ("[flaky]" in title and attempt == 1):
        print("Error: the build broke", flush=True)
        return 1
    return _work(workspace, "broken" if "[review]" in title else "ok")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return False


def _hold(marker: str) -> bool:
    """Take the task's marker (made with its pid in one step: a hard link, atomic like O_EXCL);
    a marker left by a run that was killed (its pid gone) is taken over."""
    mine = f"{marker}.{os.getpid()}"
    with open(mine, "w") as f:
        f.write(str(os.getpid()))
    try:
        for _ in range(2):
            try:
                os.link(mine, marker)
                return True
            except FileExistsError:
                with open(marker) as f:
                    holder = f.read()
                if _alive(int(holder)):
                    return False  # its holder still runs: this run is a duplicate
                os.unlink(marker)
        return False
    finally:
        os.unlink(mine)


def _ended(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # SIGTERM from a kill: let `finally` give back the marker


def main() -> int:
    signal.signal(signal.SIGTERM, _ended)
    with open(os.environ["FLEET_TASK_FILE"], encoding="utf-8") as f:
        task = json.load(f)
    tid, attempt, title = task["id"], task["attempt"], task["title"]
    print(f"task {tid} attempt {attempt}: {title}", flush=True)
    ledger = os.environ["OVERNIGHT_LEDGER"]
    with open(os.path.join(ledger, "runs"), "a") as f:
        f.write(f"{tid} {attempt}\n")
    marker: str | None = os.path.join(ledger, f"{tid}.running")
    if not _hold(marker):
        with open(os.path.join(ledger, "duplicates"), "a") as f:
            f.write(f"{tid} {attempt}\n")
        marker = None
    try:
        return _behave(tid, title, attempt, os.environ["FLEET_WORKSPACE"])
    finally:
        if marker is not None:
            os.unlink(marker)


if __name__ == "__main__":
    sys.exit(main())
