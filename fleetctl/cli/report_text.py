"""`fleetctl report` for a terminal: a table per agent, then what needs a person's eyes."""

from __future__ import annotations

import time

from fleetctl.cli.render import printable, table
from fleetctl.humanize import duration
from fleetctl.report import TOTAL_KEYS, AgentSummary, Incident, Report
from fleetctl.taskmatch import SHOWN_IDS


def render_text(report: Report, now: float | None = None) -> str:
    """The report for a terminal: a table per agent, then what needs a person's eyes."""
    now = report.until if now is None else now
    lines = [
        f"fleet {report.fleet}: since {_stamp(report.since)} ({duration(now - report.since)} ago) "
        f"until {_stamp(report.until)}",
        "",
    ]
    headers = ["AGENT", "RUNS", "RESPAWNS", "CLEAN", "CRASHES", "RATE-LIMITED", "AUTH", "START-FAIL", "STALLS"]
    headers += ["TIMEOUTS", "KILLS", "GATE-FAIL", "ALERTS", "NOW"]
    rows = [
        [
            a.name + (" (pool)" if a.pool else ""),
            a.runs_started,
            a.respawns,
            a.clean_exits,
            a.crashes,
            a.rate_limited,
            a.auth,
            a.start_failures,
            a.stalls,
            a.timeouts,
            _kills(a),
            a.gate_failures,
            a.alerts,
            "failed" if a.failed else "",
        ]
        for a in report.agents
    ]
    t = report.totals()
    rows.append(["total", *(t[k] for k in TOTAL_KEYS), ""])
    lines.append(table(headers, rows))
    for a in report.agents:
        if any(a.activity.values()):
            spent = ", ".join(f"{k} {duration(v)}" for k, v in a.activity.items() if v)
            lines.append(f"{printable(a.name)} activity: {spent}")
    for a in report.agents:
        if a.tasks:
            ended = ", ".join(f"{k} {v}" for k, v in sorted(a.tasks.items()))
            lines.append(f"{printable(a.name)} (pool) attempts ended: {ended}")
    sections = [
        ("crashes", report.crashes),
        ("rate limited", report.rate_limited),
        ("auth failures", report.auth),
        ("start failures", report.start_failures),
        ("stalls", report.stalls),
        ("timeouts", report.timeouts),
        ("kills", report.kills),
    ]
    for title, incidents in sections:
        if incidents:
            lines += ["", f"{title}:"] + [_incident_line(i) for i in incidents]
    if report.failed_agents:
        lines += ["", "failed agents:"]
        lines += [f"  {printable(name)}: {printable(reason)}" for name, reason in sorted(report.failed_agents.items())]
    lines += ["", f"open alerts: {len(report.open_alerts)}"]
    lines += [_incident_line(i) for i in report.open_alerts]
    if report.tasks is not None:
        changes = ", ".join(f"{k} {v}" for k, v in report.tasks.items())
        board = ", ".join(f"{k} {v}" for k, v in sorted((report.task_states or {}).items())) or "empty"
        lines += [f"tasks: {changes}", f"task board now: {board}"]
    if report.unmatched_count:
        ids = ", ".join(str(i) for i in report.unmatched_tasks[:SHOWN_IDS])
        more = ", …" if report.unmatched_count > SHOWN_IDS else ""
        lines.append(f"tasks no pool can take: {report.unmatched_count} (ids {ids}{more}; see `fleetctl doctor`)")
    c = report.cycles
    lines.append(f"supervise: {c.total} cycles, {c.busy} did work ({c.busy_share:.0%})")
    lines.append(f"duplicates: {len(report.duplicates)}")
    lines += [f"  {d}" for d in report.duplicates]
    return "\n".join(lines)


def _kills(a: AgentSummary) -> str:
    if not a.kills:
        return "0"
    return f"{a.kills} (" + ", ".join(f"{by} {n}" for by, n in sorted(a.kills_by.items())) + ")"


def _incident_line(i: Incident) -> str:
    what = ""
    if i.exit_signal is not None:
        what = f"signal {i.exit_signal}  "
    elif i.exit_code is not None:
        what = f"code {i.exit_code}  "
    if i.by:
        what += f"by {printable(i.by)}" + (f" ({printable(i.why)})" if i.why else "") + "  "
    return f"  {_stamp(i.time)}  {printable(i.agent or 'fleet'):<16} {what}{printable(i.detail)}".rstrip()


def _stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
