"""Messages between the app and its screens: data comes down from workers, requests go up.

Workers post snapshots, close-ups and log lines to a screen (only the newest of each kind
matters, so they coalesce). Screens post requests (run an action, fetch a close-up,
attach, open the log) that bubble up to the app, which owns the workers: no screen
imports the app.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.message import Message

from fleetctl.tui.observer import Detail, Snapshot


class SnapshotReady(Message):
    """A fresh observation of the whole fleet, posted by the observe worker."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady)


class DetailReady(Message):
    """A fresh close-up of one agent, posted by the detail worker."""

    def __init__(self, detail: Detail) -> None:
        super().__init__()
        self.detail = detail

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DetailReady)


class OutputReady(Message):
    """The followed agent's output, rendered, all of it so far (the log view)."""

    def __init__(self, agent: str, lines: tuple[str, ...]) -> None:
        super().__init__()
        self.agent = agent
        self.lines = lines

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, OutputReady) and message.agent == self.agent


class ActionRequested(Message):
    """Run a fleet action (restart, stop, …) for an agent ("" for fleet-wide ones) in a worker."""

    def __init__(self, action: str, agent: str, **kwargs: str) -> None:
        super().__init__()
        self.action = action
        self.agent = agent
        self.kwargs = kwargs


class DetailWanted(Message):
    """The selection moved: fetch this agent's close-up now rather than at the next observation."""

    def __init__(self, agent: str, rows: Sequence[Any]) -> None:
        super().__init__()
        self.agent = agent
        self.rows = tuple(rows)


class AttachRequested(Message):
    """Hand the terminal to the agent's tmux window."""

    def __init__(self, agent: str) -> None:
        super().__init__()
        self.agent = agent


class LogRequested(Message):
    """Open the log view of an agent."""

    def __init__(self, agent: str) -> None:
        super().__init__()
        self.agent = agent
