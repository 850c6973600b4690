"""An agent that started asking a question: `on_ask` says what happens. notify (the default): one
alert and one message to `human` with the question; approve: its kind's approve keys, for questions
matching `approve_patterns` only (others are notified); deny: its kind's decline keys. Called once
per question, when the agent's activity turns to asking."""

from __future__ import annotations

import re

from fleetctl.kinds import Kind
from fleetctl.model import AgentSpec
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.events import alert, emit

HUMAN = "human"  # fleetctl.bus.HUMAN: the people's inbox


def on_ask(rt: Runtime, spec: AgentSpec, kind: Kind, pane_id: str, question: str, since: float) -> str:
    """Act on a new question; returns what was done: notified, approved or denied."""
    approve = spec.on_ask == "approve" and any(re.search(p, question, re.I) for p in spec.approve_patterns)
    keys = kind.keys.approve if approve else kind.keys.decline if spec.on_ask == "deny" else ()
    if keys:
        from fleetctl.tmux import TmuxError

        try:
            rt.tmux.send_keys(pane_id, keys)
        except TmuxError:
            keys = ()  # the pane went away: tell a person instead
        else:
            done = "approved" if approve else "denied"
            emit(rt, "answered", spec.name, f"{done} by on_ask: {question}", {"reply": done, "keys": list(keys)})
            return done
    text = f"{spec.name} asks: {question}" + (f" (answer with `fleetctl answer {spec.name} yes|no|TEXT`)")
    rt.store.add_messages(spec.name, [HUMAN], text, f"ask:{spec.name}:{since:.3f}", False, rt.now())
    alert(rt, "asking", spec.name, question)
    return "notified"
