"""A person's hand on an agent's pane: raw keys (`fleetctl keys`) and answers to its questions
(`fleetctl answer`), typed with the keys the agent's kind names. Each is recorded as an event."""

from __future__ import annotations

import re
from collections.abc import Sequence

from fleetctl.errors import OperationFailed, UsageError
from fleetctl.runtime.activity import kinds
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.events import emit

# tmux key names: Enter, Escape, C-c, M-x, F1, Up, BSpace, 1, y ...
KEY_NAME = re.compile(r"^(?:[CMS]-)*[A-Za-z0-9]+$|^[CMS]-.$|^.$")
MAX_KEYS = 50


def live_pane(rt: Runtime, name: str) -> str:
    """The pane of the agent's live run (its window, by name, as tmux lists it now)."""
    rt.resolve([name])  # an unknown name is a usage error naming the agents
    panes = rt.tmux.panes() or []
    pane = next((p for p in panes if p.window_name == name and not p.dead), None)
    if pane is None:
        raise OperationFailed(f"{name} is not running: no live pane to type into (see `fleetctl status {name}`)")
    return pane.pane_id


def send_keys(rt: Runtime, name: str, keys: Sequence[str]) -> None:
    """Type tmux key names into the agent's pane, as given."""
    if not keys:
        raise UsageError("KEY: expected at least one tmux key name, such as Enter, Escape, C-c or 1")
    if len(keys) > MAX_KEYS:
        raise UsageError(f"KEY: expected at most {MAX_KEYS} keys, got {len(keys)}")
    bad = next((k for k in keys if not KEY_NAME.match(k)), None)
    if bad is not None:
        raise UsageError(f"KEY: {bad!r} is not a tmux key name; expected such as Enter, Escape, C-c, Up or 1")
    pane = live_pane(rt, name)
    rt.tmux.send_keys(pane, keys)
    emit(rt, "keys", name, " ".join(keys), {"keys": list(keys)})


def answer(rt: Runtime, name: str, reply: str) -> str:
    """Answer the agent's question: `yes` and `no` with its kind's approve and decline keys, any
    other text typed and submitted. Returns what was typed, in words."""
    if not reply.strip():
        raise UsageError("REPLY: expected yes, no or the text to type")
    (spec,) = rt.resolve([name])
    kind = kinds(rt.spec).get(spec.kind) or kinds(rt.spec)["generic"]
    word = reply.strip().lower()
    text: str | None = None
    if word in ("yes", "y"):
        keys = kind.keys.approve
    elif word in ("no", "n"):
        keys = kind.keys.decline
    else:
        keys, text = kind.keys.submit, reply
    if not keys and text is None:
        raise UsageError(
            f"{name} is of kind {kind.name}, which names no key to answer {word!r}; "
            f"type the reply as text, or send keys with `fleetctl keys {name} KEY...`"
        )
    pane = live_pane(rt, name)
    rt.tmux.send_keys(pane, keys, text)
    typed = (f"{text!r} then " if text else "") + " ".join(keys)
    emit(rt, "answered", name, f"{reply}: typed {typed}", {"reply": reply, "keys": list(keys)})
    return typed
