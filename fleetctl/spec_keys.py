"""Every key of the fleet file: what it accepts, how its value is read, and what to say when
it is wrong. spec.py walks the tables and builds the specs with these.

A parser raises ValueError or TypeError on a bad value; the loader turns that into one line
naming the file, the key and the expected text given here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fleetctl import timespec
from fleetctl.model import HOST_RE, RestartPolicy, StallAction

FLEET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
AGENT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")
LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,47}$")
HOST_EXPECTED = "a host name matching [A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

DEFAULT_RATE_LIMIT_PATTERNS = (
    r"\b429\b",
    r"rate[ _-]?limit",
    r"usage limit",
    r"quota",
    r"too many requests",
)
DEFAULT_AUTH_PATTERNS = (
    r"\b401\b",
    r"\b403\b",
    r"invalid[ _-]?api[ _-]?key",
    r"expired[ _-]?token",
    r"token (has )?expired",
    r"authentication",
    r"unauthori[sz]ed",
)
DEFAULT_DOCTOR_PATTERNS = (
    r"Traceback \(most recent call last\)",
    r"command not found",
    r"is not a function",
    r"Error:",
    r"No such file or directory",
)


def parse_duration(value: object, *, allow_off: bool = False) -> float | None:
    """A duration in the one grammar of timespec; 'off' gives None where allowed."""
    if allow_off and isinstance(value, str) and value.strip().lower() in ("off", "none", "0"):
        return None
    return timespec.duration(value)


parse_size = timespec.size


def show(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value).lower() if isinstance(value, bool) else repr(value)


# Each field: (parser, what to say when it fails). Parsers raise ValueError/TypeError.
Parser = Callable[[Any], Any]


def _duration(value: Any) -> float:
    result = parse_duration(value)
    assert result is not None
    return result


def _timeout(value: Any) -> float | None:
    return parse_duration(value, allow_off=True)


def _int_range(lo: int, hi: int) -> Parser:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError
        return value

    return parse


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError
    return value


def _positive(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError
    return value


def _string_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError
    return tuple(value)


def _host_list(value: Any) -> tuple[str, ...]:
    hosts = _string_list(value)
    if not all(HOST_RE.match(h) for h in hosts):
        raise ValueError
    return hosts


def _label_list(value: Any) -> tuple[str, ...]:
    labels = _string_list(value)
    if not all(LABEL_RE.match(label) for label in labels):
        raise ValueError
    return tuple(dict.fromkeys(labels))


def _regex_list(value: Any) -> tuple[str, ...]:
    patterns = _string_list(value)
    for p in patterns:
        re.compile(p)
    return patterns


def _enum(kind: type[RestartPolicy] | type[StallAction]) -> Parser:
    def parse(value: Any) -> object:
        return kind(value)

    return parse


def _failure_patterns(value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict) or set(value) - {"rate_limit", "auth"}:
        raise ValueError
    return {k: _regex_list(v) for k, v in value.items()}


AGENT_FIELDS: dict[str, tuple[Parser, str]] = {
    "command": (_string, "a non-empty command string"),
    "port": (_int_range(1, 65535), "an integer port from 1 to 65535"),
    "cwd": (_string, "a directory path string"),
    "env": (dict, 'a table of string values, e.g. { KEY = "value" }'),
    "replicas": (_int_range(1, 1000), "an integer from 1 to 1000"),
    "start_timeout": (_duration, 'a duration such as "250ms", "10s", "5m", "2h" or seconds'),
    "min_uptime": (_duration, 'a duration such as "250ms", "1s" or seconds'),
    "stop_timeout": (_duration, 'a duration such as "10s" or seconds'),
    "restart": (_enum(RestartPolicy), 'one of "always", "on-failure", "never"'),
    "max_respawns": (_int_range(0, 1_000_000), "a non-negative integer"),
    "respawn_window": (_duration, 'a duration such as "10m"'),
    "backoff": (_duration, 'a duration such as "1s"'),
    "backoff_max": (_duration, 'a duration such as "1m"'),
    "idle_timeout": (_timeout, 'a duration such as "10m", or "off"'),
    "wall_timeout": (_timeout, 'a duration such as "30m", or "off"'),
    "health": (_string, "a non-empty command string"),
    "health_interval": (_duration, 'a duration such as "10s"'),
    "health_failures": (_int_range(1, 1000), "an integer from 1 to 1000"),
    "fallback": (_string, "a non-empty command string"),
    "fallback_after": (_int_range(1, 1000), "an integer from 1 to 1000"),
    "failure_patterns": (
        _failure_patterns,
        "a table { rate_limit = [regex, ...], auth = [regex, ...] } of valid regexes",
    ),
    "rate_limit_park": (_duration, 'a duration such as "15m"'),
    "heartbeat_file": (_string, "a file path string"),
    "stall_action": (_enum(StallAction), 'one of "restart", "notify"'),
    "log_max_size": (parse_size, 'a size such as "10MB", "512KB" or bytes'),
    "log_keep": (_int_range(1, 1000), "an integer from 1 to 1000"),
    "doctor_patterns": (_regex_list, "a list of valid regexes"),
    "kind": (_string, 'an agent kind: "claude", "codex", "gemini", "aider", "generic" or a [kinds.NAME] of this file'),
    "resume": (_bool, "true or false"),
    "max_cost_per_run": (lambda v: _positive(v), "a positive number of US dollars, e.g. 2.5"),
    "max_tokens_per_run": (_int_range(1, 10**12), "a positive whole number of tokens"),
    "max_cost_per_day": (lambda v: _positive(v), "a positive number of US dollars, e.g. 20"),
    "on_context_full": (
        lambda v: v if v in ("off", "notify", "rotate") else _raise(),
        'one of "off", "notify", "rotate"',
    ),
    "handoff_timeout": (_duration, 'a duration such as "2m"'),
    "hosts": (lambda v: _host_list(v), "a list of host names"),
    "on_ask": (lambda v: v if v in ("notify", "approve", "deny") else _raise(), 'one of "notify", "approve", "deny"'),
    "approve_patterns": (_regex_list, "a list of valid regexes"),
    "retry_timeout": (_timeout, 'a duration such as "10m", or "off"'),
    "labels": (_label_list, 'a list of labels such as ["backend", "night"] (letters, digits, _ . : -)'),
}
NOT_DEFAULTABLE = {"command", "port", "replicas"}

POOL_FIELDS: dict[str, tuple[Parser, str]] = {
    "command": AGENT_FIELDS["command"],
    "slots": (_int_range(1, 1000), "an integer from 1 to 1000"),
    "labels": (_string_list, "a list of label strings"),
    "workspace": (lambda v: v if v in ("none", "worktree") else _raise(), 'one of "none", "worktree"'),
    "repo": (_string, "a git repository path string"),
    "cwd": AGENT_FIELDS["cwd"],
    "env": AGENT_FIELDS["env"],
    "wall_timeout": AGENT_FIELDS["wall_timeout"],
    "idle_timeout": AGENT_FIELDS["idle_timeout"],
    "max_attempts": (_int_range(1, 1000), "an integer from 1 to 1000"),
    "gate": AGENT_FIELDS["health"],
    "breaker_threshold": (_int_range(1, 1000), "an integer from 1 to 1000"),
    "breaker_cooldown": (_duration, 'a duration such as "5m"'),
    "lease": (_duration, 'a duration such as "1h"'),
    "start_timeout": AGENT_FIELDS["start_timeout"],
    "min_uptime": AGENT_FIELDS["min_uptime"],
    "stop_timeout": AGENT_FIELDS["stop_timeout"],
    "log_max_size": AGENT_FIELDS["log_max_size"],
    "log_keep": AGENT_FIELDS["log_keep"],
    "on_done": (lambda v: v if v in ("keep", "merge", "pr") else _raise(), 'one of "keep", "merge", "pr"'),
    "merge_into": (_string, "a branch name string"),
    "pr_command": (_string, "a non-empty command string"),
    "worktree_keep": (_duration, 'a duration such as "7d"'),
    "kind": AGENT_FIELDS["kind"],
    "hosts": AGENT_FIELDS["hosts"],
}

FLEET_FIELDS: dict[str, tuple[Parser, str]] = {
    "name": (
        lambda v: v if isinstance(v, str) and FLEET_NAME_RE.match(v) else _raise(),
        "a fleet name matching [A-Za-z0-9][A-Za-z0-9_-]{0,31}",
    ),
    "state_dir": (_string, "a directory path string"),
    "on_alert": (_string, "a non-empty command string"),
    "supervisor": (_bool, "true or false"),
    "max_actions_per_tick": (_int_range(1, 10_000), "an integer from 1 to 10000"),
    "store": (_string, 'a PostgreSQL URL such as "postgresql://user@dbhost:5432/fleet"'),
    "host": (lambda v: v if isinstance(v, str) and HOST_RE.match(v) else _raise(), HOST_EXPECTED),
    "heartbeat": (_duration, 'a duration such as "10s"'),
    "prune_every": (_duration, 'a duration such as "5m"'),
}


def _raise() -> Any:
    raise ValueError
