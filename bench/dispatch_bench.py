"""Dispatch benchmarks: claim throughput and duplicates, and the time from `task add` to a window.

    python bench/dispatch_bench.py                 # 10,000 tasks, 1 and 8 claimers, 20 add->window samples
    python bench/dispatch_bench.py --tasks 2000 --samples 5

Claims: N tasks in a fresh store, then K processes claim (each its own connection, as
`fleetctl task next` does) until the queue is empty; duplicates counts tasks claimed more
than once (must be 0). Latency: a real fleet with one pool on a private tmux server and
its supervise loop idle; each sample adds a task and times until its window is listed.
`measure_claims` is imported by bench/compare.py.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fleetctl.store import NewTask, StateStore

LEASE_S = 3600.0


def _claimer(state_dir: str, name: str, out: str, go: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    store = StateStore(Path(state_dir))
    store.db  # noqa: B018 - connect before the clock starts
    go.wait()
    got = []
    while (task := store.claim_task(now=time.time(), lease=LEASE_S, max_attempts=3, agent=name)) is not None:
        got.append(task.id)
    Path(out).write_text(json.dumps(got))


def measure_claims(n_tasks: int, claimers: int) -> dict[str, float | int]:
    """Claims per second with `claimers` concurrent processes over `n_tasks` tasks, and duplicates found."""
    tmp = Path(tempfile.mkdtemp(prefix="fleet-claims-"))
    try:
        store = StateStore(tmp / "state")
        store.add_tasks([NewTask(f"task {i}") for i in range(n_tasks)], time.time())
        store.close()
        ctx = multiprocessing.get_context("fork")
        go = ctx.Event()
        outs = [tmp / f"claims-{i}.json" for i in range(claimers)]
        procs = [
            ctx.Process(target=_claimer, args=(str(tmp / "state"), f"c{i}", str(o), go)) for i, o in enumerate(outs)
        ]
        for p in procs:
            p.start()
        time.sleep(0.2)  # let every claimer connect
        start = time.perf_counter()
        go.set()
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - start
        ids = [tid for o in outs for tid in json.loads(o.read_text())]
        return {
            "claims_per_s": round(len(ids) / elapsed, 1),
            "duplicates": len(ids) - len(set(ids)),
            "claimed": len(set(ids)),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure_add_to_window(samples: int) -> dict[str, float]:
    """Seconds from `fleetctl task add` returning to the task's window being listed by tmux."""
    tmp = Path(tempfile.mkdtemp(prefix="fleet-dispatch-"))
    name = f"bench{os.getpid()}"
    env = dict(os.environ, TMUX_TMPDIR=str(tmp))
    env.pop("TMUX", None)
    (tmp / "fleet.toml").write_text(
        f'[fleet]\nname = "{name}"\nsupervisor = true\n[pools.bench]\ncommand = "sleep 30"\nslots = {samples}\n'
    )
    cli = [sys.executable, "-m", "fleetctl", "-c", str(tmp / "fleet.toml")]
    tmux = ["tmux", "-L", f"fleetctl-{name}"]
    times = []
    try:
        subprocess.run([*cli, "up"], env=env, check=True, capture_output=True)
        _wait(lambda: "_supervisor" in _windows(tmux, env), 10)
        time.sleep(0.5)  # let the loop go idle
        for _ in range(samples):
            start = time.perf_counter()
            tid = subprocess.run(
                [*cli, "task", "add", "bench"], env=env, check=True, capture_output=True, text=True
            ).stdout.strip()
            added = time.perf_counter()
            _wait(lambda tid=tid: f"bench.{tid}" in _windows(tmux, env), 10)
            times.append(time.perf_counter() - added)
            del start
            time.sleep(0.2)
    finally:
        subprocess.run([*cli, "down"], env=env, capture_output=True, check=False)
        subprocess.run([*tmux, "kill-server"], env=env, capture_output=True, check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    return {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3), "samples": len(times)}


def _windows(tmux: list[str], env: dict[str, str]) -> str:
    return subprocess.run(
        [*tmux, "list-windows", "-F", "#{window_name}"], env=env, capture_output=True, text=True, check=False
    ).stdout


def _wait(condition, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(0.005)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    for claimers in (1, 8):
        result = measure_claims(args.tasks, claimers)
        print(
            f"claims: {claimers} claimer(s) over {args.tasks} tasks: {result['claims_per_s']:.0f}/s, "
            f"claimed {result['claimed']}, duplicates {result['duplicates']}"
        )
    latency = measure_add_to_window(args.samples)
    print(
        f"task add -> window exists: median {latency['median_s'] * 1000:.0f} ms, "
        f"max {latency['max_s'] * 1000:.0f} ms over {latency['samples']} tasks"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
