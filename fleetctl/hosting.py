"""Which host this is and which store it shares: the fleet file's `[fleet] store` and `host`,
FLEETCTL_STORE_URL over the file's store, and the agents and pools whose `hosts` name it.

A store URL never holds a password (PGPASSWORD or ~/.pgpass do), so the fleet file can be
shared and the URL can be shown as it is; `masked` still hides one that slipped in through
the environment. Resolved once when the fleet file is loaded, so every command on a host
sees the same fleet.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from fleetctl.errors import ConfigError, UsageError
from fleetctl.model import HOST_RE, FleetSpec
from fleetctl.record import replace

STORE_ENV = "FLEETCTL_STORE_URL"


def this_host() -> str:
    """The hostname's first label, as a host name the fleet file accepts."""
    name = os.uname().nodename.split(".")[0] or "localhost"
    return name if HOST_RE.match(name) else "localhost"


def resolve(spec: FleetSpec, environ: Mapping[str, str]) -> FleetSpec:
    """The spec as this host runs it: store URL checked, host named, others' agents left out."""
    store = spec.store
    from_env = environ.get(STORE_ENV)
    if from_env or store is not None:
        from fleetctl.store.url import masked, problem  # only a shared store needs the URL checks
    if from_env:
        wrong = problem(from_env, allow_password=True)
        if wrong:
            raise UsageError(f"${STORE_ENV} ({masked(from_env)}): {wrong}")
        store = from_env
    elif store is not None:
        wrong = problem(store)
        if wrong:
            raise ConfigError(spec.path, "fleet.store", wrong)
    host = spec.host or this_host()
    return replace(
        spec,
        store=store,
        host=host,
        agents=tuple(a for a in spec.agents if not a.hosts or host in a.hosts),
        elsewhere=tuple(a.name for a in spec.agents if a.hosts and host not in a.hosts),
        pools=tuple(p for p in spec.pools if not p.hosts or host in p.hosts),
    )
