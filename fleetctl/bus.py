"""Bus: messages between agents and people. A notice lands in an inbox; a wake is also typed into the pane.

A wake is typed only into a verified, live window, and only by the one process that
claims its delivery in the store, so it is typed exactly once even when `send`, the
supervise loop and a reconcile race. A wake for an agent that is down waits in the
store and is typed when the agent next runs (each full pass delivers pending wakes).
"""

from __future__ import annotations

import os

from fleetctl import wake
from fleetctl.errors import UsageError
from fleetctl.model import TASK_WINDOW_SEPARATOR, Message, Observation, PaneInfo
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.events import emit
from fleetctl.tmux import TmuxError

BROADCAST = "*"
HUMAN = "human"  # the people's inbox: agents report to it with `fleetctl send human ...`
TEXT_MAX_CHARS = 10_000


class Bus:
    def __init__(self, fleet: Runtime) -> None:
        self.fleet = fleet
        self.store = fleet.store

    def recipients(self, to: str) -> list[str]:
        """`*` is every agent; otherwise an agent, a pool task window (`pool.id`) or `human`."""
        spec = self.fleet.spec
        if to == BROADCAST:
            names = [a.name for a in spec.agents]
            if not names:
                raise UsageError("`*` means every agent, and the fleet file has no agents")
            return names
        if to == HUMAN or spec.agent(to) is not None or to in spec.elsewhere:
            return [to]  # an agent elsewhere gets it from its own host's supervisor
        if spec.store:
            from fleetctl.runtime.remote_actions import owners

            if to in owners(self.fleet, [to]):  # another host reports running it
                return [to]
        pool, sep, task = to.partition(TASK_WINDOW_SEPARATOR)
        if sep and task.isdigit() and spec.pool(pool) is not None:
            return [to]
        known = ", ".join(a.name for a in spec.agents) or "none"
        raise UsageError(f"no agent named {to!r} (agents: {known}; or `*` for all, `{HUMAN}` for people)")

    def send(
        self, to: str, text: str, sender: str | None = None, key: str | None = None, wake: bool = False
    ) -> list[int]:
        """Store one message per recipient (once per recipient and key); a wake is typed now if it can be."""
        self.check(text, key)
        if wake and to == HUMAN:
            raise UsageError(f"--wake types into an agent's pane; `{HUMAN}` has none (send a notice)")
        names = self.recipients(to)
        sender = sender or os.environ.get("FLEET_AGENT") or HUMAN
        sent = self.store.add_messages(sender, names, text, key, wake, self.fleet.now())
        if wake and any(created for _, created in sent):
            self.deliver_pending()
            _notify(self.fleet)
        return [mid for mid, _ in sent]

    def check(self, text: str, key: str | None = None) -> None:
        """A message that can be sent: some text, not too long, a non-empty key."""
        if not text or not text.strip():
            raise UsageError("TEXT: expected a non-empty message")
        if len(text) > TEXT_MAX_CHARS:
            raise UsageError(f"TEXT: expected at most {TEXT_MAX_CHARS} characters")
        if key is not None and not key.strip():
            raise UsageError("--key: expected a non-empty key")

    def inbox(self, name: str, unread: bool = False, ack: bool = False) -> list[Message]:
        """A recipient's messages, oldest first; `ack` marks the returned ones read."""
        messages = self.store.messages(name, unread)
        if ack:
            self.store.ack_messages([m.id for m in messages if m.read is None], self.fleet.now())
        return messages

    def deliver_pending(self, obs: Observation | None = None) -> int:
        """Type every pending wake whose recipient runs (verified) now; returns how many were typed."""
        pending = self.store.pending_wakes()
        if not pending:
            return 0
        if obs is not None:
            panes: list[PaneInfo] = [a.pane for a in obs.agents.values()] + list(obs.others)
        else:
            panes = self.fleet.tmux.panes() or []
        live = self.store.live_verified_panes()
        by_pane = {p.pane_id: p for p in panes if not p.dead}
        typed = 0
        for message in pending:
            pane = by_pane.get(live.get(message.recipient, ""))
            if pane is None or pane.window_name != message.recipient:
                continue
            if not self.store.claim_wake(message.id, self.fleet.now()):
                continue
            try:
                self.fleet.tmux.send_text(pane.pane_id, message.text)
            except TmuxError:
                self.store.unclaim_wake(message.id)
                continue
            typed += 1
            data: dict[str, object] = {"message": message.id, "from": message.sender}
            emit(self.fleet, "woke", message.recipient, message.text[:80], data)
        return typed


def _notify(fleet: Runtime) -> None:
    wake.notify(fleet.wake_fifo)
