"""Which session a start resumes: disk beats the recorded id."""

from __future__ import annotations

from pathlib import Path

from fleetctl.sessions.locate import Transcript
from fleetctl.sessions.resume import Next, decide

NEW = Transcript(id="new", path=Path("new.jsonl"), mtime=200.0)
OLD = Transcript(id="old", path=Path("old.jsonl"), mtime=100.0)


def test_nothing_on_disk_and_nothing_recorded_is_a_quiet_fresh_start() -> None:
    plan = decide([], None)
    assert (plan.session, plan.event) == (None, "")


def test_the_recorded_session_is_resumed_when_it_is_the_newest() -> None:
    plan = decide([NEW, OLD], "new")
    assert (plan.session, plan.event) == ("new", "session-resumed")


def test_a_newer_transcript_than_the_recorded_id_repoints_naming_both() -> None:
    plan = decide([NEW, OLD], "old")
    assert plan.session == "new"
    assert plan.event == "session-repointed"
    assert "old" in plan.reason and "new" in plan.reason
    assert plan.data == {"from": "old", "to": "new", "session": "new"}


def test_a_recorded_session_gone_from_disk_is_reported_and_fresh() -> None:
    plan = decide([], "old")
    assert (plan.session, plan.event) == (None, "session-gone")
    assert "old" in plan.reason


def test_fresh_and_pinned_as_asked() -> None:
    assert decide([NEW], "new", asked=Next.FRESH).session is None
    assert decide([NEW, OLD], "new", asked=Next.PINNED, pinned="old").session == "old"
    gone = decide([NEW], "new", asked=Next.PINNED, pinned="zzz")
    assert (gone.session, gone.event) == (None, "session-gone")


def test_resume_off_starts_fresh_without_a_word() -> None:
    plan = decide([NEW], "new", enabled=False)
    assert (plan.session, plan.event) == (None, "")
