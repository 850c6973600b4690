"""Time each agent spent in each activity over the report's window (pure), counted from the
`activity` events (one per change, with the activity before and after).

An activity lasts from its event until the next change or the end of the run: a run that ends
(`exited`, `killed`, `start-failed`, `removed`) or a new run (`spawned`, `respawned`, `adopted`)
leaves the agent with no reading until its next `activity` event. The time from the window's
start to an agent's first event is counted in that event's `before` when the first event is an
activity change (the agent was doing that already); otherwise it is not known and not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fleetctl.model import Event

# Always shown, in this order (0 when none); others (auth, context-full, unknown) when seen.
ACTIVITIES = ("working", "waiting", "asking", "limited", "retrying")
_RUN_EDGES = frozenset({"exited", "killed", "start-failed", "removed", "spawned", "respawned", "adopted"})
_NO_READING = frozenset({"-", ""})


def activity_time(
    events: Sequence[Event], since: float, until: float, names: Iterable[str]
) -> dict[str, dict[str, float]]:
    """Seconds per activity for each named agent that had an activity event in [since, until]."""
    wanted = set(names)
    current: dict[str, tuple[str | None, float]] = {}  # agent -> (activity or None, since when)
    out: dict[str, dict[str, float]] = {}
    for e in sorted((e for e in events if since <= e.time <= until), key=lambda e: (e.time, e.id)):
        agent = e.agent
        if agent is None or agent not in wanted or (e.kind != "activity" and e.kind not in _RUN_EDGES):
            continue
        if agent not in current:
            before = e.data.get("before") if e.kind == "activity" else None
            current[agent] = (before if isinstance(before, str) else None, since)
        doing, start = current[agent]
        _add(out, agent, doing, e.time - start)
        after = e.data.get("activity") if e.kind == "activity" else None
        current[agent] = (after if isinstance(after, str) else None, e.time)
        if e.kind == "activity":
            out.setdefault(agent, {})
    for agent, (doing, start) in current.items():
        _add(out, agent, doing, until - start)
    return {
        agent: {a: round(spent.get(a, 0.0), 1) for a in (*ACTIVITIES, *sorted(set(spent) - set(ACTIVITIES)))}
        for agent, spent in out.items()
    }


def _add(out: dict[str, dict[str, float]], agent: str, doing: str | None, seconds: float) -> None:
    if doing is None or doing in _NO_READING or seconds <= 0:
        return
    spent = out.setdefault(agent, {})
    spent[doing] = spent.get(doing, 0.0) + seconds
