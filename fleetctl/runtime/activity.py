"""Each pass, what agents of known kinds are doing: the changed panes' screens in one tmux call,
read by their kinds (fleetctl.activity_plan decides), stored beside the runs, an event per change.

`status` reads what this stored; it never captures a pane.
"""

from __future__ import annotations

from collections.abc import Collection

from fleetctl import activity_plan
from fleetctl import plan as planner
from fleetctl.kinds import Activity, Kind, load_kinds
from fleetctl.model import ActivityRow, AgentRecord, AgentState, FleetSpec, Observation
from fleetctl.record import replace
from fleetctl.redact import redact
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.events import alert, emit

# While an agent of a known kind runs, a pass comes at least this often: its screen is the news.
POLL_SECONDS = 5.0

_kinds: dict[int, tuple[FleetSpec, dict[str, Kind]]] = {}


def kinds(spec: FleetSpec) -> dict[str, Kind]:
    """The fleet's kinds (built-in ones amended by fleet.toml), compiled once per loaded spec."""
    cached = _kinds.get(id(spec))
    if cached is None or cached[0] is not spec:
        _kinds.clear()
        cached = (spec, load_kinds(spec.kinds or None, path=spec.path))
        _kinds[id(spec)] = cached
    return cached[1]


def watched(spec: FleetSpec, records: dict[str, AgentRecord]) -> list[str]:
    """The agents whose screens a pass reads: those with a live run, of a kind that knows its screen."""
    if all(a.kind == "generic" for a in spec.agents):
        return []
    known = kinds(spec)
    out = []
    for agent in spec.agents:
        record = records.get(agent.name)
        run = record.current if record else None
        if run is not None and run.live and agent.kind in known and not known[agent.kind].generic:
            out.append(agent.name)
    return out


def looks(rt: Runtime, obs: Observation, records: dict[str, AgentRecord]) -> list[activity_plan.Look]:
    """Each watched agent's live pane as this pass saw it, with its children's CPU when scanned."""
    known = kinds(rt.spec)
    table = rt.seen.panes
    out = []
    for name in watched(rt.spec, records):
        spec, agent, record = rt.spec.agent(name), obs.agents.get(name), records.get(name)
        run = record.current if record else None
        if spec is None or agent is None or not agent.alive or run is None or not run.live:
            continue
        clients = table.children.get(agent.pane.pid, [])
        child_cpu = None
        if table.children:  # a full scan: the client's own children are known
            children = [pid for client in clients for pid in table.tree(client) if pid != client]
            child_cpu = table.cpu_seconds(children)
        out.append(
            activity_plan.Look(
                agent=name,
                kind=known[spec.kind],
                pane_id=agent.pane.pane_id,
                pane_activity=agent.pane.activity,
                title=agent.pane.title,
                child_cpu=child_cpu,
            )
        )
    return out


def observe_activity(rt: Runtime, obs: Observation, records: dict[str, AgentRecord], now: float) -> float | None:
    """Read and store what the watched agents are doing; returns when the next pass should look
    (None: no watched agent runs)."""
    seen = looks(rt, obs, records)
    if not seen:
        return None
    before = rt.store.activities()
    nudged, marked = activity_plan.nudges(seen, before, now)
    if nudged:
        before = before | {row.agent: row for row in marked}
        rt.store.save_activities(marked)
        for nudge in nudged:
            _nudge(rt, nudge)
    due = activity_plan.to_capture(seen, before, now)
    screens = rt.tmux.capture_screens([look.pane_id for look in due]) if due else {}
    reading = activity_plan.read(seen, before, screens, now)
    # screen text is stored and shown: mask the fleet's secret values in it
    rt.store.save_activities([replace(row, detail=redact(row.detail, rt.secrets)) for row in reading.rows])
    for change in reading.changes:
        after = change.after
        text = f"{change.before} -> {after.activity.value}" + (f": {after.detail}" if after.detail else "")
        data: dict[str, object] = {
            "activity": after.activity.value,
            "before": change.before,
            "detail": after.detail,
            "evidence": after.evidence.value,
        }
        if after.reset_at is not None:
            data["reset_at"] = after.reset_at
        emit(rt, "activity", change.agent, text, data, now)
        if after.activity is Activity.AUTH:
            _auth_failed(rt, change.agent, redact(after.detail, rt.secrets), now)
        spec = rt.spec.agent(change.agent)
        look = next((x for x in seen if x.agent == change.agent), None)
        if after.activity is Activity.ASKING and spec is not None and look is not None:
            from fleetctl.runtime.asking import on_ask

            on_ask(rt, spec, look.kind, look.pane_id, redact(after.detail, rt.secrets) or "a question", now)
    return now + POLL_SECONDS


def plan_by_activity(
    rt: Runtime,
    spec: FleetSpec,
    obs: Observation,
    records: dict[str, AgentRecord],
    now: float,
    heartbeats: dict[str, float],
    restart: Collection[str] = (),
) -> planner.Plan:
    """The planner's decisions where idle_timeout of agents of known kinds goes by what they do,
    not by their CPU or spinners (a working one by its progress on screen or in its transcript),
    and each stall is told in those terms. The same for a pass and for `status`."""
    rows = rt.store.activities()
    judged, planned = activity_plan.idle_clock(obs, records, rows, now, transcripts_written(rt, rows, now))
    plan = planner.plan(spec, planned, judged, now, heartbeats, restart)
    return _explain_stalls(rt, rows, plan, obs, planned, now)


def _explain_stalls(
    rt: Runtime,
    rows: dict[str, ActivityRow],
    plan: planner.Plan,
    obs: Observation,
    judged: dict[str, AgentRecord],
    now: float,
) -> planner.Plan:
    """The plan with each stall of an agent of a known kind told by its activity (`judged`: the
    records idle_clock returned, whose last_activity is when its idle time began)."""

    def told(name: str, detail: str) -> str:
        spec, row, record_, agent = rt.spec.agent(name), rows.get(name), judged.get(name), obs.agents.get(name)
        if spec is None or spec.idle_timeout is None or row is None or record_ is None or agent is None:
            return detail
        if row.pane_id != agent.pane.pane_id:
            return detail
        if record_.last_activity is None or spec.kind == "generic":
            return detail
        return activity_plan.stall_detail(row, record_.last_activity, now, spec.idle_timeout)

    actions: list[planner.Action] = []
    for action in plan.actions:
        if (isinstance(action, planner.Kill) and action.reason == "idle") or isinstance(action, planner.MarkStalled):
            action = replace(action, detail=told(action.agent, action.detail))
        actions.append(action)
    views = {
        name: replace(view, reason=told(name, view.reason)) if view.state is AgentState.STALLED else view
        for name, view in plan.views.items()
    }
    return replace(plan, actions=tuple(actions), views=views)


def transcripts_written(rt: Runtime, rows: dict[str, ActivityRow], now: float) -> dict[str, float]:
    """When each working agent's transcript was last written (kinds with transcripts): a client
    writing its conversation makes progress whatever its screen shows."""
    out: dict[str, float] = {}
    for name, row in rows.items():
        spec = rt.spec.agent(name)
        if row.activity != Activity.WORKING.value or spec is None or spec.idle_timeout is None:
            continue
        kind = kinds(rt.spec).get(spec.kind)
        if kind is None or not kind.session.transcript_glob:
            continue
        from fleetctl.sessions.start import current

        info = current(rt, spec, now)
        if info is not None:
            out[name] = info.mtime
    return out


def _auth_failed(rt: Runtime, agent: str, detail: str, now: float) -> None:
    """An interactive agent showing an auth error never gets past it by itself: failed with reason
    auth and one alert, nothing respawned, its pane left as it is for a person to read."""
    reason = f"auth: {detail}" if detail else "auth"
    if rt.store.fail_agent(agent, reason):
        emit(rt, "gave-up", agent, reason, {"activity": Activity.AUTH.value}, now)
        alert(rt, "failed", agent, reason)


def _nudge(rt: Runtime, nudge: activity_plan.Nudge) -> None:
    """Type the continue text after a limit lifted; after two that did not start work, an alert."""
    if nudge.alert:
        alert(
            rt,
            "limit-not-resumed",
            nudge.agent,
            f"typed {nudge.text!r} twice after the limit lifted; still not working",
        )
        return
    from fleetctl.tmux import TmuxError

    try:
        rt.tmux.send_keys(nudge.pane_id, nudge.submit, nudge.text)
    except TmuxError:
        return
    emit(rt, "continued", nudge.agent, f"the limit lifted: typed {nudge.text!r}", {"text": nudge.text})
