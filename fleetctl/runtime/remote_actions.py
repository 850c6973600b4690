"""Restart and stop an agent that another host runs: handed to that host's supervisor through
the store, carried out there, and the result reported back to the command that asked.

Only the host that runs an agent can act on it (its tmux server and processes are there),
so `fleetctl restart NAME` on another host writes a request (store.requests) and waits for
the result. The request NOTIFYs every supervisor, so the owner acts at once; no host polls
for requests (its supervisor looks after every pass and look it makes anyway). A host whose
heartbeat is stale is not asked at all: the command fails at once saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from fleetctl import logger
from fleetctl.errors import FleetError, OperationFailed
from fleetctl.humanize import duration
from fleetctl.model import TASK_WINDOW_SEPARATOR
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.events import emit

REQUEST_TIMEOUT_SECONDS = 30.0
REQUEST_POLL_SECONDS = 0.05
# A request older than this is left alone by its host: whoever asked has given up on it.
REQUEST_STALE_SECONDS = 120.0
ACTIONS = ("restart", "stop")


@runtime_checkable
class Acting(Protocol):
    """What carries a request out: the Fleet service on the host that runs the agent."""

    def down(self, names: Sequence[str] = ()) -> list[str]: ...

    def restart(
        self, names: Sequence[str], on_progress: Callable[[str, str, str], None] | None = None
    ) -> list[str]: ...


def owners(rt: Runtime, names: Sequence[str]) -> dict[str, str]:
    """The named agents that another host runs, each with that host (from the fleet file's
    `hosts` and the hosts' last reports); empty on one machine. A name placed elsewhere by the
    fleet file that no host has reported is an error: there is no host to ask."""
    if not rt.spec.store:
        return {}
    local = {a.name for a in rt.spec.agents} | {a.base for a in rt.spec.agents}
    wanted = [n for n in names if n not in local and TASK_WINDOW_SEPARATOR not in n]
    if not wanted:
        return {}
    reported: dict[str, str] = {}
    for beat in rt.store.hosts.beats():
        if beat.name == rt.spec.host:
            continue
        for row in beat.rows:
            if row.get("kind") is None and isinstance(row.get("name"), str):
                reported.setdefault(str(row["name"]), beat.name)
    out: dict[str, str] = {}
    for name in wanted:
        if name in reported:
            out[name] = reported[name]
        elif name in rt.spec.elsewhere:
            raise OperationFailed(f"{name} runs on another host, and no host has reported running it")
    return out


def ask(rt: Runtime, name: str, host: str, action: str, timeout: float = REQUEST_TIMEOUT_SECONDS) -> tuple[bool, str]:
    """Hand `action` on `name` to `host` and wait for its result: (ok, the line it reported).
    Fails at once when that host's heartbeat is stale, or after `timeout` without a result."""
    now = rt.now()
    reachable(rt, name, host, f"nothing was {_done(action)}")
    requests = rt.store.requests
    rid = requests.ask(host, name, action, rt.spec.host, now)
    deadline = rt.clock.monotonic() + timeout
    while True:
        found = requests.get(rid)
        if found is not None and found.finished is not None:
            return bool(found.ok), found.result
        if rt.clock.monotonic() > deadline:
            if requests.withdraw(rid, rt.now()):
                why = f"host {host} did not take the {action} request within {timeout:g}s"
                raise OperationFailed(f"{name}: {why}; nothing was {_done(action)}")
            raise OperationFailed(
                f"{name}: host {host} took the {action} request but reported no result within {timeout:g}s",
                hint=f"see `fleetctl events --host {host} --agent {name}`",
            )
        rt.clock.sleep(REQUEST_POLL_SECONDS)


def hand_over(rt: Runtime, names: Sequence[str], action: str) -> tuple[list[str], list[tuple[bool, str]]]:
    """Hand `action` on each named agent that another host runs to that host and wait for each
    result: (the names left for this host, each handed-over agent's (ok, line))."""
    if not rt.spec.store or not names:
        return list(names), []
    owned = owners(rt, names)
    results = [ask(rt, name, host, action) for name, host in owned.items()]
    return [n for n in names if n not in owned], results


def reachable(rt: Runtime, name: str, host: str, consequence: str) -> None:
    """Fail with one line when `host` (which runs `name`) has stopped reporting."""
    now = rt.now()
    beat = next((b for b in rt.store.hosts.beats() if b.name == host), None)
    if beat is None or beat.unreachable(now):
        age = "never reported" if beat is None else f"last report {duration(max(0.0, now - beat.seen))} ago"
        raise OperationFailed(f"{name} runs on host {host}, which is unreachable ({age}); {consequence}")


def _done(action: str) -> str:
    return "restarted" if action == "restart" else "stopped"


def carry_out(rt: Runtime) -> int:
    """Take this host's pending requests and carry each out; returns how many. Runs in the
    supervisor after each pass or look (outside the store's lock: restart and stop take it)."""
    if not rt.spec.store or not isinstance(rt, Acting):
        return 0
    now = rt.now()
    taken = rt.store.requests.take(rt.spec.host, now, now - REQUEST_STALE_SECONDS)
    for request in taken:
        ok, result = _act(rt, request.agent, request.action, rt.spec.host)
        rt.store.requests.finish(request.id, ok, result, rt.now())
        data: dict[str, object] = {"request": request.id, "from": request.sender, "ok": ok}
        emit(rt, f"remote-{request.action}", request.agent, result, data)
    return len(taken)


def _act(fleet: Acting, name: str, action: str, host: str) -> tuple[bool, str]:
    if action not in ACTIONS:
        return False, f"{name}: unknown action {action!r}"
    details: list[str] = []
    try:
        if action == "restart":
            failures = fleet.restart([name], lambda _n, _what, detail: details.append(detail))
        else:
            failures = fleet.down([name])
            if not failures and isinstance(fleet, Runtime):
                desired = fleet.store.agent_rows().get(name, ("", None))[0]
                if desired != "stopped":  # stopped from tmux and /proc alone: it may be started again
                    failures = [f"{name}: stopped, but not recorded as meant to stay stopped"]
    except FleetError as exc:
        return False, exc.message
    except Exception as exc:  # the asking host gets the failure; supervision goes on
        logger.get(__name__).exception("request failed")
        return False, f"{name}: {action} failed: {type(exc).__name__}: {exc}"
    if failures:
        return False, "; ".join(failures)
    said = f" ({details[-1]})" if details and details[-1] else ""
    return True, f"{name}: {_done(action)} on {host}{said}"
