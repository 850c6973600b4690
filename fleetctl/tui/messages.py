"""Messages from workers to the UI. Snapshots coalesce: only the newest one matters."""

from __future__ import annotations

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


class ActionDone(Message):
    """An action worker finished; the screen refreshes at once instead of waiting a tick."""

    def __init__(self, action: str, agent: str, ok: bool, text: str) -> None:
        super().__init__()
        self.action = action
        self.agent = agent
        self.ok = ok
        self.text = text
