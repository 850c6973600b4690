"""Activity reading at 50 interactive agents: tmux calls, panes captured and CPU per supervision pass,
with 0, 5 and 50 of them changing their screens.

Usage: python bench/activity_bench.py [--agents 50] [--passes 6]
Each agent is a script that prints Claude Code's prompt screen (kind "claude") and, while its flag
file exists, redraws a spinner line every 0.2 s. A pass is `Fleet.tick()` in this process: CPU is this
process's (the tmux server's own work is not counted), tmux calls are the gateway's count.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _fleet import fleetctl, print_table, summary, throwaway_fleet

SCREEN = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "screens" / "claude" / "waiting.txt"
AGENT = """
import os, sys, time
sys.stdout.write(open(sys.argv[1]).read()); sys.stdout.flush()
i = 0
while True:
    if os.path.exists(sys.argv[2]):
        i += 1
        sys.stdout.write("\\r✻ Sautéing… (%ds · esc to interrupt)" % i); sys.stdout.flush()
    time.sleep(0.2)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--passes", type=int, default=6)
    args = parser.parse_args()
    with throwaway_fleet("activitybench", "") as config:
        flags = config.parent / "flags"
        flags.mkdir()
        script = config.parent / "agent.py"
        script.write_text(AGENT)
        body = config.read_text() + (
            f'[agents.a]\ncommand = "{sys.executable} {script} {SCREEN} {flags}/{{replica}}"\n'
            f'replicas = {args.agents}\nkind = "claude"\nmin_uptime = "0s"\n'
        )
        config.write_text(body)
        fleetctl(config, "up")
        rows = []
        for changing in (0, 5, args.agents):
            rows.append(measure(config, flags, changing, args.agents, args.passes))
        print_table(["changing", "tmux calls/pass", "captured/pass", "CPU ms/pass (median, min, max)"], rows)


def measure(config: Path, flags: Path, changing: int, agents: int, passes: int) -> list[object]:
    from fleetctl import spec
    from fleetctl.fleet import Fleet

    for i in range(1, agents + 1):
        flag = flags / str(i)
        if i <= changing:
            flag.touch()
        else:
            flag.unlink(missing_ok=True)
    fleet = Fleet(spec.load(config))
    captured: list[int] = []
    real = fleet.tmux.capture_screens

    def counting(pane_ids: Sequence[str]) -> dict[str, str]:
        captured[-1] += len(pane_ids)
        return real(pane_ids)

    fleet.tmux.capture_screens = counting  # type: ignore[method-assign]
    for _ in range(3):  # settle: the first looks after a change of flags
        captured.append(0)
        fleet.tick()
        time.sleep(1.1)
    captured.clear()
    calls, cpu = [], []
    for _ in range(passes):
        captured.append(0)
        before_calls, before_cpu = fleet.tmux.calls, time.process_time()
        fleet.tick()
        cpu.append((time.process_time() - before_cpu) * 1000)
        calls.append(fleet.tmux.calls - before_calls)
        time.sleep(1.1)  # tmux counts window activity in seconds
    med, p90, top = summary(cpu)
    return [
        changing,
        f"{sum(calls) / len(calls):.1f}",
        f"{sum(captured) / len(captured):.1f}",
        f"{med:.0f}, {p90:.0f}, {top:.0f}",
    ]


if __name__ == "__main__":
    main()
