"""Memory of the log writers: a fleet's total PSS at N agents with rotatelogs (what fleetctl
starts) and with the plain `cat` each pane's pipe used to be, on the same panes.

    python bench/log_writer_bench.py [--agents 100]

The fleet's PSS is the tmux server and every process under it (agents, wrappers, writers);
the agents are `sleep`, so the writers are most of the difference.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fleet import fleetctl, print_table, throwaway_fleet, wait


def server_pid(name: str) -> int:
    out = subprocess.run(["tmux", "-L", f"fleetctl-{name}", "display", "-p", "#{pid}"], capture_output=True, text=True)
    return int(out.stdout.strip())


def fleet_pss(pid: int, writer: str) -> tuple[float, float, int]:
    """The PSS in MB of the tmux server's tree, of its `writer` processes, and how many there are."""
    root = psutil.Process(pid)
    total = writers = 0.0
    count = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            pss = proc.memory_full_info().pss / 1024 / 1024
            name = proc.name()
        except psutil.Error:
            continue
        total += pss
        if name == writer:
            writers += pss
            count += 1
    return total, writers, count


def panes(name: str) -> list[str]:
    out = subprocess.run(
        ["tmux", "-L", f"fleetctl-{name}", "list-panes", "-a", "-F", "#{pane_id} #{window_name}"],
        capture_output=True,
        text=True,
    )
    return [line.split()[0] for line in out.stdout.splitlines() if line.split()[1].startswith("a-")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=100)
    args = parser.parse_args()
    name = f"logbench{int(time.time()) % 100000}"
    body = f'[agents.a]\ncommand = "sleep 3600"\nreplicas = {args.agents}\nmin_uptime = "0.1s"\n'
    rows: list[list[object]] = []
    with throwaway_fleet(name, body) as config:
        fleetctl(config, "up")
        pid = server_pid(name)
        wait(lambda: fleet_pss(pid, "rotatelogs")[2] >= args.agents, timeout=30)
        total, writers, count = fleet_pss(pid, "rotatelogs")
        rows.append(["rotatelogs (now)", count, f"{writers:.1f}", f"{writers / max(count, 1):.2f}", f"{total:.1f}"])
        scratch = config.parent / "cat-logs"
        scratch.mkdir()
        for pane in panes(name):
            target = scratch / pane.strip("%")
            subprocess.run(
                ["tmux", "-L", f"fleetctl-{name}", "pipe-pane", "-t", pane, f"exec cat >> {target}"], check=True
            )
        wait(lambda: fleet_pss(pid, "rotatelogs")[2] == 0 and fleet_pss(pid, "cat")[2] >= args.agents, timeout=30)
        total, writers, count = fleet_pss(pid, "cat")
        rows.append(["cat (before)", count, f"{writers:.1f}", f"{writers / max(count, 1):.2f}", f"{total:.1f}"])
    print(f"fleet PSS at {args.agents} agents (sleep), MB")
    print_table(["pipe writer", "writers", "writers PSS", "per writer", "fleet PSS"], rows)


if __name__ == "__main__":
    main()
