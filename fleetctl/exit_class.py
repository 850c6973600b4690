"""How a run that ended by itself is classed, by its exit status, its last lines and its agent's kind.

Text beats exit 0: aider exits 0 after a 401 or a usage limit, so a clean exit whose last lines match
the kind's auth or limit patterns, or the agent's own `failure_patterns`, is classed auth or
rate-limited. The generic kind's patterns (429, quota, 401, ...) apply only to a non-zero exit: a
plain command that ends well while mentioning a quota is not failing. A limit parks until
the reset time the output names (fleetctl.kinds.resets), else for `rate_limit_park`. Pure.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from fleetctl import plan as planner
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
    cls, reason, park = planner.classify(spec, exit_code, exit_signal, output, now)
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
