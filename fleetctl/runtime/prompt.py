"""A prompt that arrives for an interactive agent of a known kind (`send NAME TEXT --wake`): wait
until it is `waiting` at its prompt, paste the text as one bracketed paste, submit it with the
kind's key, and check that the agent went `working` (or, for one that answered between two looks,
that the text reached its transcript); if not, press submit once more, then fail saying why.
Typed text never lands in the middle of a reply or a question."""

from __future__ import annotations

from fleetctl.errors import OperationFailed
from fleetctl.kinds import Activity, Kind, classify_screen
from fleetctl.runtime.activity import kinds
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.events import emit
from fleetctl.runtime.prompt_seen import in_transcript, transcript_mark
from fleetctl.runtime.steer import live_pane

POLL_SECONDS = 0.25
VERIFY_SECONDS = 10.0


def needs_prompt(rt: Runtime, name: str) -> bool:
    """Is this an agent of a kind that knows its screen (the wake goes through `deliver`)?"""
    spec = rt.spec.agent(name)
    known = kinds(rt.spec)
    return spec is not None and spec.kind in known and not known[spec.kind].generic


def deliver(rt: Runtime, name: str, text: str, timeout: float, now: bool = False) -> str:
    """Type the prompt into the agent and verify it started working; returns how it went."""
    spec = rt.spec.agent(name)
    assert spec is not None
    kind = kinds(rt.spec)[spec.kind]
    pane = live_pane(rt, name)
    if not now:
        seen = _wait_for(rt, kind, pane, {Activity.WAITING}, timeout)
        if seen is not Activity.WAITING:
            raise OperationFailed(
                f"{name} did not come to its prompt within {timeout:g}s (it is {seen.value}); "
                "nothing was typed (use --now to type anyway, or a longer --timeout)"
            )
    mark = transcript_mark(rt, spec)
    rt.tmux.paste(pane, text, kind.keys.submit)
    for attempt in (1, 2):
        if _wait_for(rt, kind, pane, {Activity.WORKING}, VERIFY_SECONDS) is Activity.WORKING:
            emit(rt, "woke", name, text[:80], {"verified": True, "submits": attempt})
            return f"{name}: typed and submitted; it is working"
        if in_transcript(rt, spec, text, mark):  # it answered between two looks
            emit(rt, "woke", name, text[:80], {"verified": True, "submits": attempt, "seen": "transcript"})
            return f"{name}: typed and submitted; it is in its transcript"
        if attempt == 1:
            rt.tmux.send_keys(pane, kind.keys.submit)  # the text may sit unsent in the prompt
    emit(rt, "wake-failed", name, text[:80], {"verified": False})
    raise OperationFailed(
        f"{name} did not start working within {VERIFY_SECONDS:g}s of the prompt and a second "
        f"{'+'.join(kind.keys.submit)}; see `fleetctl attach {name}`"
    )


def _wait_for(rt: Runtime, kind: Kind, pane: str, wanted: set[Activity], timeout: float) -> Activity:
    """Poll the pane's screen until its activity is one of `wanted` or the time is up; the last seen."""
    deadline = rt.clock.monotonic() + timeout
    while True:
        screen = rt.tmux.capture_screens([pane]).get(pane, "")
        panes = rt.tmux.panes() or []
        title = next((p.title for p in panes if p.pane_id == pane), "")
        seen = classify_screen(kind, screen, title, False).activity
        if seen in wanted or rt.clock.monotonic() >= deadline:
            return seen
        rt.clock.sleep(POLL_SECONDS)
