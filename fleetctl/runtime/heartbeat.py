"""On a shared store, each host's supervisor reports in: a heartbeat after every look, and
its status rows after every full pass, so `status --all` on any host shows the whole fleet
and can tell a silent host from a healthy one."""

from __future__ import annotations

import os

from fleetctl import logger
from fleetctl.errors import StoreError
from fleetctl.runtime.context import Runtime


def wait_cap(rt: Runtime, idle_wait: float) -> float:
    """The longest wait between looks: a host that reports must report on time."""
    return min(idle_wait, rt.spec.heartbeat) if rt.spec.store else idle_wait


def beat(rt: Runtime, *, full: bool) -> None:
    """Report this host; `full` also publishes its status rows (after a pass, not a quiet look)."""
    if not rt.spec.store:
        return
    rows: list[dict[str, object]] | None = None
    if full:
        from fleetctl.runtime.status import status_and_tasks

        agents, windows = status_and_tasks(rt)
        rows = [r.as_json() for r in agents] + [w.as_json() for w in windows]
    try:
        rt.store.hosts.beat(rt.spec.host, rt.now(), rt.spec.heartbeat, os.getpid(), rows)
    except StoreError as exc:  # the next look tries again; other hosts see the gap
        logger.get(__name__).warning("heartbeat not recorded: %s", exc.message)
