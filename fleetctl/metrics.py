"""`fleetctl metrics`: the fleet in Prometheus text exposition format, through prometheus_client.

`collect()` reads the fleet once (one observation for status, one timed observation,
store counters, the task board) into plain Metric records; `registry()` hands them to
prometheus_client, whose `generate_latest` formats them and whose `write_to_textfile`
replaces the file atomically, as node_exporter's textfile collector requires.
prometheus_client is imported only here, and only when `metrics` runs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fleetctl.errors import UsageError
from fleetctl.model import AgentState
from fleetctl.record import record

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from fleetctl.fleet import Fleet

PREFIX = "fleetctl"
LATENCY_WINDOW_SECONDS = 3600.0


@record
class Metric:
    """One metric family: its samples are (label pairs, value)."""

    name: str
    kind: str  # gauge | counter | summary
    help: str
    samples: tuple[Sample, ...]


# (name suffix such as "_sum" or "", label pairs, value)
Sample = tuple[str, tuple[tuple[str, str], ...], float]


def _one(value: float, suffix: str = "", **labels: str) -> Sample:
    return suffix, tuple(sorted(labels.items())), float(value)


def collect(fleet: Fleet) -> list[Metric]:
    """Everything `metrics` exposes; reads only (safe while the fleet runs)."""
    fleet_label = {"fleet": fleet.spec.name}
    started = time.perf_counter()
    obs = fleet.observe()
    observe_seconds = time.perf_counter() - started
    rows = fleet.status()
    store = fleet.store
    have_db = store.exists()
    runs = store.run_totals() if have_db else {}
    events = store.event_totals() if have_db else {}
    meta = store.meta_values() if have_db else {}

    by_state = {s.value: 0 for s in AgentState}
    for row in rows:
        by_state[row.state.value] += 1
    out = [
        Metric(
            f"{PREFIX}_up",
            "gauge",
            "1 when the fleet's tmux server runs.",
            (_one(1 if obs.server_running else 0, **fleet_label),),
        ),
        Metric(
            f"{PREFIX}_agents",
            "gauge",
            "Agents by state.",
            tuple(_one(n, state=s, **fleet_label) for s, n in by_state.items()),
        ),
        Metric(
            f"{PREFIX}_agent_state",
            "gauge",
            "1 for each agent's current state.",
            tuple(_one(1, agent=r.name, state=r.state.value, **fleet_label) for r in rows),
        ),
        Metric(
            f"{PREFIX}_agent_respawns_in_window",
            "gauge",
            "Respawns counted against max_respawns now.",
            tuple(_one(r.respawns, agent=r.name, **fleet_label) for r in rows),
        ),
        Metric(
            f"{PREFIX}_agent_runs_total",
            "counter",
            "Runs ever started, per agent.",
            tuple(_one(n, agent=a, **fleet_label) for a, (n, _) in sorted(runs.items())),
        ),
        Metric(
            f"{PREFIX}_agent_respawns_total",
            "counter",
            "Respawns ever made, per agent.",
            tuple(_one(r, agent=a, **fleet_label) for a, (_, r) in sorted(runs.items())),
        ),
        Metric(
            f"{PREFIX}_events_total",
            "counter",
            "Events recorded, by kind.",
            tuple(_one(n, kind=k, **fleet_label) for k, n in sorted(events.items())),
        ),
        Metric(
            f"{PREFIX}_supervise_cycles_total",
            "counter",
            "Supervise loop cycles.",
            (_one(_int(meta.get("supervise_cycles")), **fleet_label),),
        ),
        Metric(
            f"{PREFIX}_supervise_busy_cycles_total",
            "counter",
            "Supervise loop cycles that acted.",
            (_one(_int(meta.get("supervise_busy_cycles")), **fleet_label),),
        ),
        Metric(
            f"{PREFIX}_observe_seconds",
            "gauge",
            "Time of one observation (tmux list-panes + /proc scan).",
            (_one(observe_seconds, **fleet_label),),
        ),
    ]
    if "supervise_last_cycle_seconds" in meta:
        out.append(
            Metric(
                f"{PREFIX}_supervise_cycle_seconds",
                "gauge",
                "Duration of the last supervise cycle.",
                (_one(_float(meta["supervise_last_cycle_seconds"]), **fleet_label),),
            )
        )
        out.append(
            Metric(
                f"{PREFIX}_supervise_last_cycle_timestamp_seconds",
                "gauge",
                "When the last supervise cycle ended (epoch seconds).",
                (_one(_float(meta.get("supervise_last_cycle_at")), **fleet_label),),
            )
        )
    out += _task_metrics(fleet, fleet_label)
    out += _usage_metrics(fleet, fleet_label)
    return out


def _usage_metrics(fleet: Fleet, fleet_label: dict[str, str]) -> list[Metric]:
    """Tokens and dollars per agent, from its transcripts (fleetctl.sessions.spend): all time."""
    if all(a.kind == "generic" for a in fleet.spec.agents):
        return []
    from fleetctl.sessions import spend

    agents = spend.report(fleet, 0.0)["agents"]
    assert isinstance(agents, dict)
    tokens, cost = [], []
    for name, used in sorted(agents.items()):
        for kind in ("input", "output", "cache_read", "cache_write"):
            tokens.append(_one(used[f"{kind}_tokens"], agent=name, type=kind, **fleet_label))
        if used["cost_usd"] is not None:
            cost.append(_one(used["cost_usd"], agent=name, **fleet_label))
    return [
        Metric(
            f"{PREFIX}_agent_tokens_total", "counter", "Tokens the agent's client recorded, by type.", tuple(tokens)
        ),
        Metric(
            f"{PREFIX}_agent_cost_usd_total", "counter", "Dollars of those tokens (priced models only).", tuple(cost)
        ),
    ]


def _task_metrics(fleet: Fleet, fleet_label: dict[str, str]) -> list[Metric]:
    try:
        from fleetctl.tasks import TaskBoard  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return []
    if not fleet.store.exists():
        return []
    counts = TaskBoard(fleet).counts()
    out = [
        Metric(
            f"{PREFIX}_tasks",
            "gauge",
            "Tasks by state.",
            tuple(_one(n, state=s, **fleet_label) for s, n in sorted(counts.items())),
        ),
    ]
    values = fleet.store.dispatch_latencies(time.time() - LATENCY_WINDOW_SECONDS)
    samples = [_one(v, quantile=q, **fleet_label) for q, v in _quantiles(values)]
    samples += [_one(sum(values), "_sum", **fleet_label), _one(len(values), "_count", **fleet_label)]
    out.append(
        Metric(
            f"{PREFIX}_dispatch_latency_seconds",
            "summary",
            "Seconds from a task being added to its first claim (tasks claimed in the last hour).",
            tuple(samples),
        )
    )
    return out


def _quantiles(values: Sequence[float]) -> list[tuple[str, float]]:
    if not values:
        return []
    ordered = sorted(values)
    return [(str(q), ordered[min(len(ordered) - 1, int(q * len(ordered)))]) for q in (0.5, 0.9, 0.99)] + [
        ("1", ordered[-1])
    ]


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _float(value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        return 0.0


# --- rendering through prometheus_client ----------------------------------------------


def registry(metrics: Sequence[Metric]) -> CollectorRegistry:
    """A registry holding these metric families (a collector that yields them)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import Metric as Family

    class _Fleet:
        def collect(self) -> Iterator[Family]:
            for m in metrics:
                name = m.name.removesuffix("_total") if m.kind == "counter" else m.name
                family = Family(name, m.help, m.kind)
                for suffix, labels, value in m.samples:
                    sample = name + ("_total" if m.kind == "counter" and not suffix else suffix)
                    family.add_sample(sample, dict(labels), value)
                yield family

    out = CollectorRegistry(auto_describe=False)
    out.register(_Fleet())
    return out


def render(metrics: Sequence[Metric]) -> str:
    """Prometheus text format (HELP and TYPE per family, one line per sample)."""
    from prometheus_client import generate_latest

    return generate_latest(registry(metrics)).decode()


def write_textfile(path: Path, metrics: Sequence[Metric] | str) -> None:
    """Write beside the target and rename over it: a reader never sees half a file.

    Takes the metrics (preferred), or text already rendered by `render()` (the CLI renders
    once, then prints or writes).
    """
    from prometheus_client import write_to_textfile
    from prometheus_client.parser import text_string_to_metric_families

    directory = path.parent
    if not directory.is_dir():
        raise UsageError(f"--textfile {path}: directory {directory} does not exist")
    if isinstance(metrics, str):
        text = metrics

        class _Parsed:
            def collect(self) -> Iterable[object]:
                return text_string_to_metric_families(text)

        from prometheus_client import CollectorRegistry

        parsed = CollectorRegistry(auto_describe=False)
        parsed.register(_Parsed())  # type: ignore[arg-type]
        write_to_textfile(str(path), parsed)
    else:
        write_to_textfile(str(path), registry(metrics))
    os.chmod(path, 0o644)
