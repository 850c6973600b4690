"""The shared PostgreSQL store: claims per second and duplicates with H hosts x K claimers,
next to SQLite on one host with K claimers; wake latency across hosts (NOTIFY); and
`status --all` wall time with 3 hosts x 50 agents next to a one-host `status` at 50.

    python bench/pg_bench.py                        # 4,000 tasks, 2 hosts x 8 claimers, 50 wake samples
    python bench/pg_bench.py --tasks 1000 --samples 20 --status-runs 5

It starts its own throwaway PostgreSQL cluster on 127.0.0.1 (as tests/pg.py does) and
removes it afterwards. Claims: N tasks in a fresh store, then every claimer process (each
its own connection, with its host's name) claims until the queue is empty; duplicates
counts tasks claimed more than once (must be 0). Wake latency: host beta sends a wake
message; the time until host alpha's listener (the thread a supervisor runs) is told.
status --all: this host runs 50 real agents (sleep) in tmux; two other hosts' reports of 50
agents each are written to the store as their supervisors write them; the figure is the
wall time of `fleetctl status --all --json` (a new process each time, median), next to
`fleetctl status --json` of a one-machine fleet (SQLite) of 50 agents.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fleet import fleetctl, throwaway_fleet

from fleetctl.store import NewTask, StateStore
from tests.pg import start_cluster, stop_cluster


def _claimer(state_dir: str, url: str | None, host: str | None, out: str, go: threading.Event) -> None:
    store = StateStore(Path(state_dir), url, host)
    store.task_counts()  # connect (and migrate) before the clock starts
    go.wait()
    got = []
    while (task := store.claim_task(now=time.time(), lease=3600.0, max_attempts=3, agent=Path(out).name)) is not None:
        got.append(task.id)
    Path(out).write_text(json.dumps(got))


def claims(tasks: int, url: str | None, hosts: list[str | None], per_host: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="pg-bench-"))
    seed = StateStore(work / "seed", url, hosts[0])
    seed.add_tasks([NewTask(f"t{i}") for i in range(tasks)], time.time())
    seed.close()
    ctx = multiprocessing.get_context("fork")
    go = ctx.Event()
    outs = [(h, work / f"{h or 'one'}-{i}") for h in hosts for i in range(per_host)]
    state = work / "seed" if url is None else work
    procs = [ctx.Process(target=_claimer, args=(str(state), url, h, str(o), go)) for h, o in outs]
    for p in procs:
        p.start()
    time.sleep(1.0)  # every claimer connected and waiting
    started = time.perf_counter()
    go.set()
    for p in procs:
        p.join()
    seconds = time.perf_counter() - started
    got = [tid for _, o in outs for tid in json.loads(o.read_text())]
    return {"claims_per_s": round(len(got) / seconds, 1), "claimed": len(got), "duplicates": len(got) - len(set(got))}


def wake_latency(url: str, samples: int) -> dict[str, float]:
    from fleetctl.store.pg import listen

    woke: list[float] = []
    stop = threading.Event()
    thread = threading.Thread(target=listen, args=(url, lambda: woke.append(time.perf_counter()), stop.is_set, 0.2))
    thread.start()
    while not woke:
        time.sleep(0.01)
    sender = StateStore(Path(tempfile.mkdtemp()), url, "beta")
    delays = []
    for i in range(samples):
        before = len(woke)
        sent = time.perf_counter()
        sender.add_messages("bench", ["agent-on-alpha"], f"wake {i}", None, True, time.time())
        while len(woke) == before:
            time.sleep(0.0005)
        delays.append((woke[before] - sent) * 1000)
    stop.set()
    thread.join()
    sender.close()
    delays.sort()
    return {"median_ms": round(statistics.median(delays), 2), "p95_ms": round(delays[int(len(delays) * 0.95) - 1], 2)}


def _timed(config: Path, args: list[str], runs: int) -> float:
    """Median wall time (ms) of `fleetctl ARGS` as a new process."""
    fleetctl(config, *args)  # warm the page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fleetctl", "-c", str(config), *args], capture_output=True, check=False)
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def status_all(url: str, agents: int, others: int, runs: int) -> dict[str, float]:
    """`status --all` with this host's agents and `others` hosts' reports, next to a one-host `status`."""
    body = f'[agents.a]\ncommand = "sleep 100000"\nreplicas = {agents}\nmin_uptime = "0s"\n'
    with throwaway_fleet("pgbenchone", body) as one:
        fleetctl(one, "up")
        one_host = _timed(one, ["status", "--json"], runs)
    name = "pgbenchall"
    shared = f'host = "alpha"\nstore = "{url}"\n\n{body}'
    try:
        with throwaway_fleet(name, shared) as config:
            fleetctl(config, "up")
            rows = json.loads(fleetctl(config, "status", "--json"))
            store = StateStore(config.parent / "state-others", url, "beta")
            for h in range(others):
                host = f"other{h + 1}"
                renamed = [{**r, "name": f"{host}-{r['name']}"} for r in rows]
                store.hosts.beat(host, time.time() + 3600, 10.0, os.getpid(), renamed)  # reports for the whole run
            store.close()
            shown = json.loads(fleetctl(config, "status", "--all", "--json"))
            assert len(shown) == agents * (others + 1), len(shown)
            pg_status = _timed(config, ["status", "--json"], runs)
            everything = _timed(config, ["status", "--all", "--json"], runs)
    finally:
        subprocess.run(["tmux", "-L", f"fleetctl-{name}-alpha", "kill-server"], capture_output=True, check=False)
    return {
        f"status_sqlite_{agents}_ms": one_host,
        f"status_pg_{agents}_ms": pg_status,
        f"status_all_{others + 1}x{agents}_ms": everything,
        "ratio_all_to_sqlite_status": round(everything / one_host, 2),
        "ratio_all_to_pg_status": round(everything / pg_status, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4000)
    parser.add_argument("--claimers", type=int, default=8, help="claimer processes per host")
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--agents", type=int, default=50, help="agents per host for status --all")
    parser.add_argument("--status-runs", type=int, default=10)
    parser.add_argument("--only", choices=("claims", "wake", "status"), help="run one part alone")
    args = parser.parse_args()
    cluster = start_cluster()
    if cluster is None:
        sys.exit("no PostgreSQL server binaries (initdb, pg_ctl)")
    try:
        hosts: list[str | None] = [f"host{i + 1}" for i in range(args.hosts)]
        if args.only in (None, "claims"):
            pg = claims(args.tasks, cluster.new_database(), hosts, args.claimers)
            lite = claims(args.tasks, None, [None], args.claimers)
            print(f"claims, PostgreSQL, {args.hosts} hosts x {args.claimers} claimers, {args.tasks} tasks: {pg}")
            print(f"claims, SQLite, 1 host x {args.claimers} claimers, {args.tasks} tasks: {lite}")
        if args.only in (None, "wake"):
            wake = wake_latency(cluster.new_database(), args.samples)
            print(f"wake latency across hosts (NOTIFY to the other host's listener), {args.samples} samples: {wake}")
        if args.only in (None, "status"):
            shown = status_all(cluster.new_database(), args.agents, 2, args.status_runs)
            print(f"status wall time, median of {args.status_runs} (3 hosts x {args.agents} agents for --all): {shown}")
    finally:
        stop_cluster(cluster)


if __name__ == "__main__":
    main()
