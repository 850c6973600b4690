"""The fleet's event log and its alerts: every event is stored, then handed to on_event."""

from __future__ import annotations

import json

from fleetctl.model import Event
from fleetctl.record import replace
from fleetctl.redact import redact, redact_data
from fleetctl.runtime.context import Runtime

ALERT_TIMEOUT_SECONDS = 10.0


def emit(
    rt: Runtime, kind: str, agent: str | None, reason: str, data: dict[str, object], now: float | None = None
) -> Event:
    """Record an event in the store, then tell on_event (the CLI's printer, a test, the TUI)."""
    if rt.secrets:  # an agent's output quoted in a reason may hold its own secrets
        reason = redact(reason, rt.secrets)
        data = {key: redact_data(value, rt.secrets) for key, value in data.items()}
    event = Event(time=now if now is not None else rt.now(), kind=kind, agent=agent, reason=reason, data=data)
    event = replace(event, id=rt.store.add_event(event))
    rt.on_event(event)
    return event


def alert(rt: Runtime, kind: str, agent: str | None, reason: str) -> None:
    """Run [fleet] on_alert with one JSON object on stdin; record that it ran."""
    now = rt.now()
    payload = {"event": kind, "agent": agent, "reason": reason, "time": now, "fleet": rt.spec.name}
    emit(rt, "alert", agent, f"{kind}: {reason}", {"alert": kind}, now)
    if not rt.spec.on_alert:
        return
    import subprocess  # passes that alert only: `status` never imports it

    try:
        subprocess.run(
            ["/bin/sh", "-c", rt.spec.on_alert],
            input=json.dumps(payload).encode(),
            cwd=rt.spec.path.parent,
            timeout=ALERT_TIMEOUT_SECONDS,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        emit(rt, "alert-failed", agent, f"on_alert did not finish: {exc}", {})
