"""`send --kind K TEXT` and `send --label L TEXT`: one message to each agent of a group, each
delivered as `send NAME TEXT` would (with --wake, agents of known kinds get it typed at their
prompt and verified), each outcome reported on its own so one agent's failure stops no other.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleetctl.errors import FleetError, UsageError
from fleetctl.record import record
from fleetctl.runtime.context import Runtime


@record
class Reached:
    """How the message went to one agent of the group."""

    agent: str
    ok: bool
    text: str


def members(rt: Runtime, kind: str | None, label: str | None) -> list[str]:
    """The agents of the group, in fleet file order; a group that names nothing is a usage error."""
    agents = rt.spec.agents
    if kind is not None:
        from fleetctl.runtime.activity import kinds

        known = sorted(set(kinds(rt.spec)) | {"generic"}) if any(a.kind != "generic" for a in agents) else []
        names = [a.name for a in agents if a.kind == kind]
        if not names:
            have = ", ".join(sorted({a.kind for a in agents})) or "none"
            if known and kind not in known:
                raise UsageError(f"--kind {kind}: no such kind; expected one of: {', '.join(known)}")
            raise UsageError(f"--kind {kind}: no agent of the fleet is of that kind (kinds in use: {have})")
        return names
    assert label is not None
    names = [a.name for a in agents if label in a.labels]
    if not names:
        have = ", ".join(sorted({x for a in agents for x in a.labels})) or "none"
        raise UsageError(f"--label {label}: no agent of the fleet has that label (labels in use: {have})")
    return names


def send_to(
    rt: Runtime,
    names: Sequence[str],
    text: str,
    sender: str | None,
    key: str | None,
    wake: bool,
    timeout: float,
    now: bool,
) -> list[Reached]:
    """Send the message to each agent; a bad message (empty, too long) fails before any is sent."""
    from fleetctl.bus import Bus
    from fleetctl.runtime.prompt import deliver, needs_prompt

    bus = Bus(rt)
    bus.check(text, key)
    out = []
    for name in names:
        try:
            if wake and needs_prompt(rt, name):
                bus.send(name, text, sender, key, wake=False)
                out.append(Reached(agent=name, ok=True, text=deliver(rt, name, text, timeout, now=now)))
                continue
            ids = bus.send(name, text, sender, key, wake)
            how = "wake" if wake else "notice"
            out.append(Reached(agent=name, ok=True, text=f"{name}: {how} {', '.join(str(i) for i in ids)}"))
        except UsageError:
            raise
        except FleetError as exc:
            out.append(Reached(agent=name, ok=False, text=f"{name}: {exc.message}"))
    return out


def summary(reached: Sequence[Reached]) -> str:
    """The last line: how many were reached and how many failed."""
    failed = sum(1 for r in reached if not r.ok)
    agents = f"{len(reached)} agent{'' if len(reached) == 1 else 's'}"
    return f"sent to {agents}: {len(reached) - failed} reached, {failed} failed"
