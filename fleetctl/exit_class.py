"""How a run that ended by itself is classed, by its exit status, its last lines and its agent's kind.

Text beats exit 0: aider exits 0 after a 401 or a usage limit, so a clean exit whose last lines match
the kind's auth or limit patterns, or the agent's own `failure_patterns`, is classed auth or
rate-limited. The generic kind's patterns (429, quota, 401, ...) apply only to a non-zero exit: a
plain command that ends well while mentioning a quota is not failing. A limit parks until
the reset time the output names (fleetctl.kinds.resets), else for `rate_limit_park`. Pure.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

from fleetctl.kinds import Kind, Outcome, classify_output, parse_reset
from fleetctl.model import AgentSpec, FailureClass
from fleetctl.record import replace
from fleetctl.spec_keys import DEFAULT_AUTH_PATTERNS, DEFAULT_RATE_LIMIT_PATTERNS

Classed = tuple[FailureClass, str, float | None]  # (class, reason, park until)


def user_patterns(spec: AgentSpec) -> dict[str, tuple[str, ...]]:
    """The agent's own failure_patterns (the spec carries them after fleetctl's defaults)."""
    return {
        "rate_limit": spec.rate_limit_patterns[len(DEFAULT_RATE_LIMIT_PATTERNS) :],
        "auth": spec.auth_patterns[len(DEFAULT_AUTH_PATTERNS) :],
    }


# Patterns, not compiled ones: re compiles (and caches) them when a run ends, not at every import.
_RETRY_AFTER = r"retry[- ]after[:=\s]+(\d+(?:\.\d+)?)\s*(ms|s|sec|seconds?|m|min|minutes?|h|hours?)?"
_RESETS_AT = r"resets?\s+(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*(am|pm)?"
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
}


def matching_line(patterns: tuple[str, ...], output: str) -> str | None:
    for line in reversed(output.splitlines()):
        if any(re.search(p, line, re.I) for p in patterns):
            return line.strip()
    return None


def park_until(output: str, now: float, default_park: float) -> float:
    """When a rate limit lifts: 'retry after 120s', 'Retry-After: 120', 'resets at 3pm', else the default."""
    m = re.search(_RETRY_AFTER, output, re.I)
    if m:
        unit = (m.group(2) or "s").lower()
        return now + float(m.group(1)) * _UNIT_SECONDS.get(unit, 1)
    m = re.search(_RESETS_AT, output, re.I)
    if m:
        hour, minute, half = int(m.group(1)), int(m.group(2) or 0), (m.group(3) or "").lower()
        if half == "pm" and hour < 12:
            hour += 12
        elif half == "am" and hour == 12:
            hour = 0
        if hour < 24 and minute < 60:
            from datetime import timedelta  # only for a "resets at" message

            local = datetime.fromtimestamp(now)
            reset = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if reset <= local:
                reset += timedelta(days=1)
            return reset.timestamp()
    return now + default_park


def classify(
    spec: AgentSpec, exit_code: int | None, exit_signal: int | None, output: str, now: float
) -> tuple[FailureClass, str, float | None]:
    """(class, reason, park-until) for a run that ended by itself."""
    if exit_code == 0 and exit_signal is None:
        return FailureClass.EXITED, "exited with code 0", None
    how = f"killed by signal {exit_signal}" if exit_signal is not None else f"exited with code {exit_code}"
    if exit_code is None and exit_signal is None:  # no exit file: killed with its wrapper, or the server
        how = "ended (exit status unknown)"
    line = matching_line(spec.rate_limit_patterns, output)
    if line is not None:
        until = park_until(output, now, spec.rate_limit_park)
        return FailureClass.RATE_LIMITED, f"rate limited: {line}", until
    line = matching_line(spec.auth_patterns, output)
    if line is not None:
        return FailureClass.AUTH, f"auth: {line}", None
    return FailureClass.CRASHED, how, None


def classify_exit(
    spec: AgentSpec,
    kind: Kind,
    exit_code: int | None,
    exit_signal: int | None,
    output: str,
    now: float,
    local_tz: tzinfo | None = None,
) -> Classed:
    """(class, reason, park-until) for a run that ended by itself."""
    cls, reason, park = classify(spec, exit_code, exit_signal, output, now)
    if exit_signal is not None:
        return cls, reason, park  # killed: what it printed before says nothing about why
    when = datetime.fromtimestamp(now, UTC)
    if exit_code == 0 and kind.generic:
        kind = replace(kind, failures=())  # a generic command's exit 0 answers to the user's patterns alone
    verdict = classify_output(kind, output, exit_code, user_patterns=user_patterns(spec), now=when, local_tz=local_tz)
    if verdict.outcome is Outcome.AUTH:
        return FailureClass.AUTH, f"auth: {verdict.detail}", None
    if verdict.outcome is Outcome.RATE_LIMITED:
        until = verdict.reset_at or _reset(output, when, local_tz, kind) or now + spec.rate_limit_park
        return FailureClass.RATE_LIMITED, f"rate limited: {verdict.detail}", until
    if cls is FailureClass.RATE_LIMITED:
        return cls, reason, _reset(output, when, local_tz, kind) or park
    return cls, reason, park


def _reset(output: str, now: datetime, local_tz: tzinfo | None, kind: Kind) -> float | None:
    """The reset time the output names ("try again in 5s", "resets 8pm (Europe/Berlin)"), if any."""
    zone = local_tz or datetime.now().astimezone().tzinfo or UTC
    lines = output.splitlines()
    for line in reversed(lines):
        found = parse_reset(line, now, zone, kind.reset_patterns)
        if found is not None and found > now.timestamp():
            return found
    return None
