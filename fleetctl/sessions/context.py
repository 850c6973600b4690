"""A full context: seen in the transcript (the newest message's input reached the kind's
context_limit), then `notify` alerts once per session and `rotate` hands off: it types the kind's
handoff request (write the state of the work to FILE), waits until FILE is written or
handoff_timeout passes, and restarts the agent in a fresh session whose first prompt points at
FILE. Events name both sessions.

Progress is kept in the store's meta table (`context.<agent>`), so a rotation survives the
supervise loop's restarts: "alerted:<session>" or "handoff:<session>:<deadline>".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fleetctl.model import AgentRecord, AgentSpec, Observation
from fleetctl.sessions.usage import Entry

if TYPE_CHECKING:
    from fleetctl.runtime.context import Runtime

_STATE = "context."
PROMPT = "session-prompt."
ROTATED = "rotated-from."


def used(entries: list[Entry]) -> int:
    """Context tokens of the newest message: what it sent (input and cache)."""
    if not entries:
        return 0
    last = max(entries, key=lambda e: e.time or 0.0)
    return last.input + last.cache_read + last.cache_write


def handoff_file(rt: Runtime, agent: str, session: str) -> Path:
    return rt.spec.state_dir / "handoffs" / f"{agent}-{session}.md"


def first_prompt(path: Path) -> str:
    """What a rotated agent's fresh session is told first."""
    return (
        f"You continue work begun in an earlier session whose context was full. Read {path}: it holds "
        "the state of that work (what is done, what is next). Then go on with it."
    )


def check(rt: Runtime, obs: Observation, records: dict[str, AgentRecord], now: float) -> bool:
    """Notify or rotate each agent whose context is full (True: a run was stopped)."""
    specs = [s for s in rt.spec.agents if s.kind != "generic" and s.on_context_full != "off"]
    if not specs:
        return False
    from fleetctl.sessions import spend, start, usage

    acted = False
    for spec in specs:
        kind = spend.usage_kind(rt, spec)
        record_ = records.get(spec.name)
        run = record_.current if record_ is not None else None
        if kind is None or not kind.session.context_limit or run is None or not run.live:
            continue
        state = rt.store.ops.meta_value(_STATE + spec.name) or ""
        if state.startswith("handoff:"):
            acted |= _finish(rt, spec, state, obs, records, now)
            continue
        info = start.current(rt, spec, now)
        if info is None or state in (f"alerted:{info.id}", f"done:{info.id}"):
            continue
        mine = usage.between(spend.entries(rt, spec, kind), run.started, None)
        tokens = used(mine)
        if tokens < kind.session.context_limit:
            continue
        _begin(rt, spec, info.id, tokens, kind.session.context_limit, kind.session.handoff, obs, now)
    return acted


def _begin(
    rt: Runtime, spec: AgentSpec, session: str, tokens: int, limit: int, handoff: str, obs: Observation, now: float
) -> None:
    from fleetctl.runtime.events import alert, emit

    why = f"context full in session {session}: {tokens} tokens of {limit}"
    agent = obs.agents.get(spec.name)
    if spec.on_context_full != "rotate" or not handoff or agent is None or not agent.alive:
        rt.store.history.set_meta(_STATE + spec.name, f"alerted:{session}")
        alert(rt, "context-full", spec.name, why)
        return
    path = handoff_file(rt, spec.name, session)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    rt.tmux.send_text(agent.pane.pane_id, handoff.replace("{file}", str(path)))
    rt.store.history.set_meta(_STATE + spec.name, f"handoff:{session}:{now + spec.handoff_timeout}")
    emit(rt, "context-handoff", spec.name, f"{why}; asked for a handoff in {path}", {"session": session}, now)


def _finish(
    rt: Runtime, spec: AgentSpec, state: str, obs: Observation, records: dict[str, AgentRecord], now: float
) -> bool:
    """Once the handoff is written (or handoff_timeout passed): restart in a fresh session."""
    from fleetctl import plan as planner
    from fleetctl.runtime import stop
    from fleetctl.runtime.events import emit
    from fleetctl.sessions.start import Next, ask_next

    _, session, deadline = state.split(":", 2)
    path = handoff_file(rt, spec.name, session)
    written = path.exists() and path.stat().st_size > 0
    if not written and now < float(deadline):
        return False
    record_ = records.get(spec.name)
    run = record_.current if record_ is not None else None
    ask_next(rt, spec.name, Next.FRESH)
    rt.store.history.set_meta(PROMPT + spec.name, first_prompt(path) if written else "")
    rt.store.history.set_meta(ROTATED + spec.name, session)
    rt.store.history.set_meta(_STATE + spec.name, f"done:{session}")
    how = f"handoff written to {path}" if written else f"no handoff after {spec.handoff_timeout:g}s"
    emit(rt, "context-rotating", spec.name, f"rotating session {session}: {how}", {"session": session}, now)
    if run is None or not run.live:
        return False
    kill = planner.Kill(agent=spec.name, run_id=run.id, reason="restart", detail="context full: fresh session")
    stop.kill_runs(rt, [kill], obs, records, now)
    return True
