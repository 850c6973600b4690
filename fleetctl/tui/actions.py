"""What each key does, as calls on a fresh Fleet: the same methods the CLI commands call.

These run in thread workers only. Each returns the line to show; a FleetError raised here
becomes an error notification in the app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fleetctl.errors import OperationFailed
from fleetctl.tui.observer import optional_class

ActionFn = Callable[..., str]


def _progress_sink(lines: list[str]) -> Callable[[str, str, str], None]:
    def record(name: str, what: str, detail: str) -> None:
        if what == "verified":
            lines.append(f"{name} verified ({detail})")

    return record


def _failed(lines: list[str]) -> None:
    if lines:
        raise OperationFailed("; ".join(lines))


def restart(fleet: Any, name: str) -> str:
    """`fleetctl restart NAME`."""
    done: list[str] = []
    _failed(fleet.restart([name], _progress_sink(done)))
    return "; ".join(done) or f"{name} restarted"


def stop(fleet: Any, name: str) -> str:
    """`fleetctl down NAME`."""
    _failed(fleet.down([name]))
    return f"{name} stopped"


def start(fleet: Any, name: str) -> str:
    """`fleetctl up NAME`."""
    done: list[str] = []
    _failed(fleet.up([name], _progress_sink(done)))
    return "; ".join(done) or f"{name} is running"


def kill(fleet: Any, name: str) -> str:
    """`Fleet.kill`: SIGKILL now; what follows is the agent's restart policy."""
    _failed(fleet.kill([name]))
    return f"{name} killed (SIGKILL)"


def reset(fleet: Any, name: str) -> str:
    """`fleetctl reset NAME`."""
    fleet.reset([name])
    return f"{name}: respawn counter and breaker cleared"


def message(fleet: Any, name: str, text: str, wake: bool = False) -> str:
    """`Bus.send`, as the message/wake commands use it."""
    bus_class = optional_class("fleetctl.bus", "Bus")
    if bus_class is None:
        raise OperationFailed("messages are not available in this build (fleetctl.bus is missing)")
    result = bus_class(fleet).send(name, text, sender="tui", wake=wake)
    what = "woke" if wake else "sent a message to"
    ids = ", ".join(f"#{i}" for i in result) if isinstance(result, list) else ""
    return f"{what} {name}" + (f" (message {ids})" if ids else "")


def add_task(fleet: Any, name: str, title: str) -> str:
    """`TaskBoard.add`, as `fleetctl task add` uses it."""
    del name
    board_class = optional_class("fleetctl.tasks", "TaskBoard")
    if board_class is None:
        raise OperationFailed("the task board is not available in this build (fleetctl.tasks is missing)")
    task_id = board_class(fleet).add(title)
    return f"task #{task_id} queued: {title}"


ACTIONS: dict[str, ActionFn] = {
    "restart": restart,
    "stop": stop,
    "start": start,
    "kill": kill,
    "reset": reset,
    "message": lambda fleet, name, text: message(fleet, name, text, wake=False),
    "wake": lambda fleet, name, text: message(fleet, name, text, wake=True),
    "add-task": add_task,
}
