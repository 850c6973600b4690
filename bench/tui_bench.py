"""UI-thread time per TUI refresh for 50 and 200 agents (fake fleet, values change every refresh).

Measures the two pieces of UI-thread work one refresh causes: the SnapshotReady handler
(applying one observation to the table, header, close-up and events view) and the repaints
that follow it (time inside Textual's screen update callback until the app is idle again).
Observing the fleet itself runs in a thread worker and is not UI-thread time. Budget: 50 ms.

    python bench/tui_bench.py [--refreshes 60]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

from fleetctl.record import replace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.screen import Screen

from fleetctl.model import AgentState, Event
from fleetctl.tui.app import make_app
from fleetctl.tui.messages import SnapshotReady
from fleetctl.tui.observer import Detail, Snapshot
from tests.tui.fakes import FIXED_NOW, FakeFleet, status

STATES = [AgentState.RUNNING] * 6 + [AgentState.STALLED, AgentState.BACKOFF, AgentState.FAILED, AgentState.STARTING]
BUDGET_MS = 50.0


def rows_for(n: int, tick: int, rng: random.Random) -> list[object]:
    """n agents; every refresh moves uptime and output age, and some change state."""
    out = []
    for i in range(n):
        state = STATES[(i + (tick if rng.random() < 0.05 else 0)) % len(STATES)]
        row = status(f"agent-{i:03d}", state, port=9000 + i, respawns=(i + tick // 10) % 6, task=i if i % 3 else None)
        if state is AgentState.RUNNING:
            row = replace(row, pid=10000 + i, uptime_s=100.0 + tick + i, last_output_s=float((tick + i) % 30))
        out.append(row)
    return out


def events_for(tick: int, per_tick: int = 3) -> tuple[Event, ...]:
    base = tick * per_tick
    why = "window, pid and min_uptime verified"
    return tuple(
        Event(time=FIXED_NOW + tick, kind="verified", agent=f"agent-{(base + j) % 50:03d}", reason=why, id=base + j + 1)
        for j in range(per_tick)
    )


_PAINTS: list[float] = []


def _time_paints() -> None:
    """Wrap the screen's update callback (the compositor repaint) to add up its time."""
    original = Screen._on_timer_update

    def timed(self: Screen[object]) -> None:
        started = time.perf_counter()
        try:
            original(self)
        finally:
            _PAINTS.append(time.perf_counter() - started)

    Screen._on_timer_update = timed  # type: ignore[method-assign]


async def measure(n: int, refreshes: int, size: tuple[int, int]) -> tuple[list[float], list[float]]:
    rng = random.Random(n)
    fleet = FakeFleet(rows_for(n, 0, rng))
    app = make_app(lambda: fleet, refresh=3600.0, clock=lambda: FIXED_NOW)
    walls: list[float] = []
    async with app.run_test(size=size) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.apply_times.clear()
        screen = app.fleet_screen
        for tick in range(1, refreshes + 1):
            rows = tuple(rows_for(n, tick, rng))
            detail = Detail("agent-000", FIXED_NOW + tick, tuple(f"line {tick}-{j}" for j in range(12)), "pane")
            snap = Snapshot(FIXED_NOW + tick, "bench", rows, True, events_for(tick), None, None, detail)
            _PAINTS.clear()
            screen.post_message(SnapshotReady(snap))
            await pilot.pause()
            await pilot.pause(0.05)  # let every repaint the update scheduled happen
            walls.append(sum(_PAINTS) + app.apply_times[-1])
        handler = list(app.apply_times)
    return handler, walls


def summary(samples: list[float]) -> tuple[float, float, float]:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return statistics.median(ms), p95, ms[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refreshes", type=int, default=60)
    args = parser.parse_args()
    print(f"UI-thread time per refresh (ms), {args.refreshes} refreshes, terminal 120x40; budget {BUDGET_MS:g} ms")
    print(f"{'agents':>6}  {'what':<22} {'median':>7} {'p95':>7} {'max':>7}")
    _time_paints()
    worst = 0.0
    for n in (50, 200):
        handler, walls = asyncio.run(measure(n, args.refreshes, (120, 40)))
        for what, samples in (("apply snapshot", handler), ("handler + repaints", walls)):
            med, p95, top = summary(samples)
            print(f"{n:>6}  {what:<22} {med:>7.2f} {p95:>7.2f} {top:>7.2f}")
        worst = max(worst, summary(walls)[1])
    print(f"p95 of handler + repaints is {'within' if worst < BUDGET_MS else 'OVER'} the {BUDGET_MS:g} ms budget")
    return 0 if worst < BUDGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
