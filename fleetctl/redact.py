"""Secret values out of everything fleetctl stores or shows.

An agent may print its own API key (`echo failing with $API_TOKEN`). Whatever fleetctl
keeps of an agent's output (events, a run's stop reason, alerts) or prints (`up`'s failure
lines, `doctor`, `restart`) passes through `redact` first, which replaces the value of
every secret env key (one whose name contains TOKEN, KEY, SECRET or PASSWORD) with ***.
The keys come from each agent's and pool's env and from fleetctl's own environment (the
tmux server, and so every agent, inherits it).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping

from fleetctl.model import FleetSpec, is_secret

MASK = "***"
# Shorter values are not replaced: a secret of 1-3 characters is no secret, and replacing
# "1" or "yes" in every line would make the output unreadable.
MIN_SECRET_LENGTH = 4


def secret_values(
    spec: FleetSpec | None, environ: Mapping[str, str] | None = None, extra: Iterable[str] = ()
) -> frozenset[str]:
    """The values to hide: secret keys' values in the fleet's env tables and in `environ`
    (fleetctl's own environment by default), and `extra` (say, a store password)."""
    found = set(extra)
    if spec is not None:
        for env in [a.env for a in spec.agents] + [p.env for p in spec.pools]:
            found.update(value for key, value in env if is_secret(key))
    environ = os.environ if environ is None else environ
    found.update(value for key, value in environ.items() if is_secret(key))
    return frozenset(v for v in found if len(v) >= MIN_SECRET_LENGTH)


@functools.lru_cache(maxsize=16)
def _pattern(values: frozenset[str]) -> re.Pattern[str]:
    # Longest first: a secret that contains another is replaced whole.
    return re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))


def redact(text: str, values: frozenset[str]) -> str:
    """text with every one of these values replaced by ***."""
    if not values or not text:
        return text
    return _pattern(values).sub(MASK, text)


def redact_data(value: object, values: frozenset[str]) -> object:
    """An event's data with every string in it (nested lists and dicts too) redacted."""
    if not values:
        return value
    if isinstance(value, str):
        return redact(value, values)
    if isinstance(value, dict):
        return {k: redact_data(v, values) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v, values) for v in value]
    return value


def scrub(spec: FleetSpec | None, text: str) -> str:
    """text with this fleet's secret values (and fleetctl's own environment's) replaced by ***."""
    return redact(text, secret_values(spec))
