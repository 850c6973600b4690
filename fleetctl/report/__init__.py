"""`fleetctl report`: what changed since a time, counted from the event log and the runs.

`count.build()` is pure (events, runs, agent state, cycle counts and task counts in; a
Report out), so every count is derived from the same events a person can list with
`fleetctl events`, and tests can check the two agree exactly. `gather.load()` reads the
inputs; fleetctl.cli.report_text draws the report for a terminal.
"""

from __future__ import annotations

from fleetctl.report.count import TASK_STATES, build, find_duplicate_claims, find_duplicates
from fleetctl.report.gather import load
from fleetctl.report.records import REPORT_SCHEMA_VERSION, TOTAL_KEYS, AgentSummary, Cycles, Incident, Report

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "TASK_STATES",
    "TOTAL_KEYS",
    "AgentSummary",
    "Cycles",
    "Incident",
    "Report",
    "build",
    "find_duplicate_claims",
    "find_duplicates",
    "load",
]
