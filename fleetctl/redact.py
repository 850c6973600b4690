"""Secret values out of everything fleetctl stores or shows.

An agent can print its own secrets (`echo failing with $API_TOKEN`): the values of env keys
that name a secret (TOKEN, KEY, SECRET, PASSWORD: model.is_secret) are replaced with `***`
in captured output before it becomes an event, a run's stop reason, a failure line, a
doctor verdict or a `logs` line. Values shorter than MIN_SECRET_LENGTH are left alone:
masking every "1" or "on" would garble the output and protects nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from fleetctl.model import FleetSpec, is_secret

MASK = "***"
MIN_SECRET_LENGTH = 4


def secret_values(spec: FleetSpec) -> tuple[str, ...]:
    """Every secret value of the fleet's agents and pools, longest first (so a secret that
    contains another is masked whole)."""
    envs = [a.env for a in spec.agents] + [p.env for p in spec.pools]
    values = {v for env in envs for k, v in env if is_secret(k) and len(v) >= MIN_SECRET_LENGTH}
    return tuple(sorted(values, key=len, reverse=True))


def redact(text: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_data(data: object, secrets: tuple[str, ...]) -> object:
    """redact over an event's data: strings, and lists and dicts of them."""
    if not secrets:
        return data
    if isinstance(data, str):
        return redact(data, secrets)
    if isinstance(data, list | tuple):
        return [redact_data(item, secrets) for item in data]
    if isinstance(data, dict):
        return {key: redact_data(value, secrets) for key, value in data.items()}
    return data
