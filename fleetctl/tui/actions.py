"""What each key does, as calls on a fresh Fleet: the same methods the CLI commands call.

These run in thread workers only. Each returns the line to show; a FleetError raised here
becomes an error notification in the app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fleetctl.bus import Bus
from fleetctl.errors import OperationFailed
from fleetctl.tasks import TaskBoard

ActionFn = Callable[..., str]


def _progress_sink(lines: list[str]) -> Callable[[str, str, str], None]:
    def record(name: str, what: str, detail: str) -> None:
        if what == "verified":
            lines.append(f"{name} verified ({detail})")

    return record


def _failed(lines: list[str]) -> None:
    if lines:
        raise OperationFailed("; ".join(lines))


def _task_window(fleet: Any, name: str) -> bool:
    """Is the row a pool's task window (`pool.id`) rather than an agent?"""
    from fleetctl.runtime.context import Runtime
    from fleetctl.runtime.taskwindows import is_window

    return isinstance(fleet, Runtime) and is_window(fleet, name)


def _stop_window(fleet: Any, name: str, why: str) -> str:
    """`fleetctl restart/down pool.id`: the window stops, the pool queues its task again."""
    from fleetctl.runtime.taskwindows import stop as stop_windows

    failures, idle = stop_windows(fleet, [name], why)
    _failed(failures + [f"{name}: no task window runs by that name" for _ in idle])
    return f"{name} stopped; the pool queues its task again"


def _elsewhere(fleet: Any, name: str, action: str) -> str | None:
    """Hand restart or stop of an agent another host runs to that host (None: it runs here)."""
    from fleetctl.runtime.context import Runtime

    if not isinstance(fleet, Runtime) or not fleet.spec.store:
        return None
    from fleetctl.runtime.remote_actions import hand_over

    _, results = hand_over(fleet, [name], action)
    if not results:
        return None
    ok, line = results[0]
    if not ok:
        raise OperationFailed(line)
    return line


def restart(fleet: Any, name: str) -> str:
    """`fleetctl restart NAME`."""
    remote = _elsewhere(fleet, name, "restart")
    if remote is not None:
        return remote
    if _task_window(fleet, name):
        return _stop_window(fleet, name, "restarted by request")
    done: list[str] = []
    _failed(fleet.restart([name], _progress_sink(done)))
    return "; ".join(done) or f"{name} restarted"


def stop(fleet: Any, name: str) -> str:
    """`fleetctl down NAME`; the fleet comes from the TUI's loader, whose actor is the TUI."""
    remote = _elsewhere(fleet, name, "stop")
    if remote is not None:
        return remote
    if _task_window(fleet, name):
        return _stop_window(fleet, name, "stopped by request")
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


def reset_and_start(fleet: Any, name: str) -> str:
    """`fleetctl reset NAME` then `fleetctl up NAME`: what restarting a failed agent means."""
    fleet.reset([name])
    return f"{name} reset; " + start(fleet, name)


def message(fleet: Any, name: str, text: str, wake: bool = False) -> str:
    """`Bus.send`, as the message/wake commands use it."""
    result = Bus(fleet).send(name, text, sender="tui", wake=wake)
    what = "woke" if wake else "sent a message to"
    ids = ", ".join(f"#{i}" for i in result) if isinstance(result, list) else ""
    return f"{what} {name}" + (f" (message {ids})" if ids else "")


def answer(fleet: Any, name: str, reply: str) -> str:
    """`fleetctl answer NAME yes|no|TEXT`: the agent's question answered with its kind's keys."""
    from fleetctl.runtime.steer import answer as answer_question

    return f"{name}: typed {answer_question(fleet, name, reply)}"


def add_task(fleet: Any, name: str, title: str) -> str:
    """`TaskBoard.add`, as `fleetctl task add` uses it."""
    del name
    task_id = TaskBoard(fleet).add(title)
    return f"task #{task_id} queued: {title}"


ACTIONS: dict[str, ActionFn] = {
    "restart": restart,
    "stop": stop,
    "start": start,
    "kill": kill,
    "reset": reset,
    "reset-start": reset_and_start,
    "message": lambda fleet, name, text: message(fleet, name, text, wake=False),
    "wake": lambda fleet, name, text: message(fleet, name, text, wake=True),
    "add-task": add_task,
    "answer": answer,
}
