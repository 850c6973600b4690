"""`status --all`: this host's rows from its own observation, every other host's from its last
report, and a host that stopped reporting marked unreachable with the age of its report,
its agents never shown as if they were running."""

from __future__ import annotations

from fleetctl.humanize import duration
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.status import status_and_tasks

UNREACHABLE = "unreachable"


def fleet_rows(rt: Runtime) -> list[dict[str, object]]:
    """One row per agent and task window of every host, each with its `host`; a host with no
    rows still gets one (kind "host") saying whether it reports."""
    agents, windows = status_and_tasks(rt)
    here = rt.spec.host
    out: list[dict[str, object]] = [{**r.as_json(), "host": here} for r in agents]
    out += [{**w.as_json(), "host": here} for w in windows]
    return out + other_rows(rt)


def other_rows(rt: Runtime) -> list[dict[str, object]]:
    """Every other host's rows from its last report (none on a one-machine store)."""
    if not rt.spec.store:
        return []
    here = rt.spec.host
    out: list[dict[str, object]] = []
    now = rt.now()
    for beat in rt.store.hosts.beats():
        if beat.name == here:
            continue
        age = max(0.0, now - beat.seen)
        if beat.unreachable(now):
            reason = f"host {beat.name} unreachable: last report {duration(age)} ago"
            out.append(
                {
                    "kind": "host",
                    "name": beat.name,
                    "host": beat.name,
                    "state": UNREACHABLE,
                    "last_report_s": round(age, 1),
                    "reason": reason,
                }
            )
            out += [
                {**row, "host": beat.name, "state": UNREACHABLE, "pid": None, "reason": reason} for row in beat.rows
            ]
        else:
            out += [{**row, "host": beat.name} for row in beat.rows]
    return out


def table_rows(rows: list[dict[str, object]]) -> list[list[object]]:
    return [[r.get("host"), r.get("name"), r.get("state"), r.get("pid"), r.get("reason") or ""] for r in rows]
