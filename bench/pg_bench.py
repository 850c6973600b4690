"""The shared PostgreSQL store: claims per second and duplicates with H hosts x K claimers,
next to SQLite on one host with K claimers; and wake latency across hosts (NOTIFY).

    python bench/pg_bench.py                        # 4,000 tasks, 2 hosts x 8 claimers, 50 wake samples
    python bench/pg_bench.py --tasks 1000 --samples 20

It starts its own throwaway PostgreSQL cluster on 127.0.0.1 (as tests/pg.py does) and
removes it afterwards. Claims: N tasks in a fresh store, then every claimer process (each
its own connection, with its host's name) claims until the queue is empty; duplicates
counts tasks claimed more than once (must be 0). Wake latency: host beta sends a wake
message; the time until host alpha's listener (the thread a supervisor runs) is told.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4000)
    parser.add_argument("--claimers", type=int, default=8, help="claimer processes per host")
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    cluster = start_cluster()
    if cluster is None:
        sys.exit("no PostgreSQL server binaries (initdb, pg_ctl)")
    try:
        hosts: list[str | None] = [f"host{i + 1}" for i in range(args.hosts)]
        pg = claims(args.tasks, cluster.new_database(), hosts, args.claimers)
        lite = claims(args.tasks, None, [None], args.claimers)
        wake = wake_latency(cluster.new_database(), args.samples)
    finally:
        stop_cluster(cluster)
    print(f"claims, PostgreSQL, {args.hosts} hosts x {args.claimers} claimers, {args.tasks} tasks: {pg}")
    print(f"claims, SQLite, 1 host x {args.claimers} claimers, {args.tasks} tasks: {lite}")
    print(f"wake latency across hosts (NOTIFY to the other host's listener), {args.samples} samples: {wake}")


if __name__ == "__main__":
    main()
