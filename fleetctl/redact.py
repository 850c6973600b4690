"""Secret values out of everything fleetctl stores or shows.

An agent can print its own secrets (`echo failing with $API_TOKEN`): the values of env keys
that name a secret (TOKEN, KEY, SECRET, PASSWORD: model.is_secret) are replaced with `***`
in captured output before it becomes an event, a run's stop reason, a failure line, a
doctor verdict or a `logs` line; so is the shared store's password (an agent inherits
FLEETCTL_STORE_URL and PGPASSWORD). Values shorter than MIN_SECRET_LENGTH are left alone:
masking every "1" or "on" would garble the output and protects nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from fleetctl.model import FleetSpec, is_secret

MASK = "***"
MIN_SECRET_LENGTH = 4


def secret_values(spec: FleetSpec, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Every secret value of the fleet's agents and pools, and the store's password, longest
    first (so a secret that contains another is masked whole)."""
    envs = [a.env for a in spec.agents] + [p.env for p in spec.pools]
    values = {v for env in envs for k, v in env if is_secret(k)}
    values |= store_passwords(spec.store, os.environ if environ is None else environ)
    return tuple(sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True))


def store_passwords(store: str | None, environ: Mapping[str, str]) -> set[str]:
    """The shared store's password, which agents inherit with FLEETCTL_STORE_URL or PGPASSWORD:
    in the URL (as written and decoded, `user:pw@` or `?password=`) and in PGPASSWORD."""
    if not store:
        return set()
    from urllib.parse import parse_qs, unquote, urlsplit

    values = set(filter(None, [environ.get("PGPASSWORD")]))
    try:
        parts = urlsplit(store)
        password = parts.password
    except ValueError:  # checked when the fleet file was loaded; nothing to mask here
        return values
    if password:
        values |= {password, unquote(password)}
    values.update(parse_qs(parts.query).get("password", []))
    return values


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
