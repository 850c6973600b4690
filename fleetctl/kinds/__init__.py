"""Agent kinds: what Claude Code, Codex, Gemini CLI, aider (or any command) show when they work, wait,
ask, hit a limit, retry or fail, and the keys that answer them. Kinds are data (one TOML file per kind
in this package, amended by `[kinds.NAME]` in fleet.toml); this package reads them and classifies
screens and headless output with them. No I/O beyond reading the kind files.
"""

from __future__ import annotations

from fleetctl.kinds.classify import classify_output, classify_screen
from fleetctl.kinds.describe import describe_kinds
from fleetctl.kinds.load import BUILTIN, builtin_kinds, load_kinds
from fleetctl.kinds.model import Activity, Evidence, Kind, KindRow, Observation, Outcome, Verdict
from fleetctl.kinds.resets import parse_reset

__all__ = [
    "BUILTIN",
    "Activity",
    "Evidence",
    "Kind",
    "KindRow",
    "Observation",
    "Outcome",
    "Verdict",
    "builtin_kinds",
    "classify_output",
    "classify_screen",
    "describe_kinds",
    "load_kinds",
    "parse_reset",
]
