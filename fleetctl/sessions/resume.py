"""Which session a start resumes: a pure decision over what is on disk and what was recorded.

Disk has the truth: the newest transcript of the agent wins over the id recorded at its last
start (the client may have started a new conversation since), and an id that is no longer on
disk is reported, not resumed.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from fleetctl.record import field, record
from fleetctl.sessions.locate import Transcript


class Next(enum.Enum):
    """What the person asked the next start to do (`restart --fresh`, `resume --session ID`)."""

    LATEST = "latest"
    FRESH = "fresh"
    PINNED = "pinned"


@record
class ResumePlan:
    """The session a start resumes (None: a fresh one) and the event that says why."""

    session: str | None
    event: str = ""  # session-resumed, session-repointed, session-gone, session-fresh; "" for nothing to say
    reason: str = ""
    data: dict[str, object] = field(default_factory=dict)


def decide(
    found: Sequence[Transcript],
    recorded: str | None,
    *,
    enabled: bool = True,
    asked: Next = Next.LATEST,
    pinned: str | None = None,
) -> ResumePlan:
    """`found`: the agent's transcripts, newest first; `recorded`: the id its last start used."""
    by_id = {t.id: t for t in found}
    if asked is Next.FRESH:
        return ResumePlan(None, "session-fresh", "fresh session, as asked", {"previous": recorded})
    if asked is Next.PINNED and pinned is not None:
        if pinned in by_id:
            return ResumePlan(pinned, "session-resumed", f"resuming session {pinned}, as asked", {"session": pinned})
        reason = f"session {pinned} no longer exists on disk; starting a fresh session"
        return ResumePlan(None, "session-gone", reason, {"session": pinned})
    if not enabled:
        return ResumePlan(None)
    if not found:
        if recorded:
            reason = f"session {recorded} no longer exists on disk; starting a fresh session"
            return ResumePlan(None, "session-gone", reason, {"session": recorded})
        return ResumePlan(None)
    newest = found[0]
    if recorded and recorded != newest.id:
        gone = recorded not in by_id
        how = "no longer exists" if gone else "is older"
        reason = f"session repointed from {recorded} to {newest.id}: the recorded one {how}, the newer transcript wins"
        data: dict[str, object] = {"from": recorded, "to": newest.id, "session": newest.id}
        return ResumePlan(newest.id, "session-repointed", reason, data)
    return ResumePlan(newest.id, "session-resumed", f"resuming session {newest.id}", {"session": newest.id})
