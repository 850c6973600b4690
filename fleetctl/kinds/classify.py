"""Reading a kind's signs: what an interactive agent's pane shows it doing, and how a headless run ended.

Screen evidence, strongest first: a busy process tree (a live child such as a test run) means working;
then the screen's lines from the bottom up, where the lowest matching line is the latest news: a
question, limit, retry or auth line below any working sign wins, a working sign below an old limit
line means the agent moved on (but one right under a retry line is that retry's spinner); then the
pane title, which decides between working and waiting (Claude Code puts a spinner there while it
works); then working or waiting signs anywhere in the tail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo

from fleetctl.kinds.model import (
    FAILURE_GROUPS,
    PRECEDENCE,
    Activity,
    Evidence,
    Kind,
    Observation,
    Outcome,
    Verdict,
)
from fleetctl.kinds.resets import parse_reset
from fleetctl.record import record

_FRAME = " \t│┃|╭╮╰╯─━┏┓┗┛"  # box edges around dialogs, stripped from a detail line
_RANK = {activity: i for i, activity in enumerate(PRECEDENCE)}
_GROUP_RANK = {group: i for i, group in enumerate(FAILURE_GROUPS)}
_IDLE = (Activity.WORKING, Activity.WAITING)


@record
class _Hit:
    activity: Activity
    position: int  # non-blank lines from the bottom: 0 is the last line
    line: str
    detail: str


def classify_screen(
    kind: Kind,
    screen_text: str,
    title: str,
    tree_busy: bool,
    *,
    now: datetime | None = None,
    local_tz: tzinfo | None = None,
) -> Observation:
    """What the agent in this pane is doing, by its kind's patterns. Generic kinds are always `-`."""
    if kind.generic:
        return Observation(activity=Activity.NONE)
    if tree_busy:
        return Observation(activity=Activity.WORKING, detail="a child process is running", evidence=Evidence.TREE)
    now, local_tz = _clock(now, local_tz)
    lines = _tail(screen_text, kind.tail)
    hits = _screen_hits(kind, lines)
    title_hits = [e.activity for e in kind.activities if title and any(p.search(title) for p in e.title)]

    for activity in sorted((a for a in title_hits if a not in _IDLE), key=_RANK.__getitem__):
        return Observation(activity=activity, detail=title.strip(), evidence=Evidence.TITLE)
    for hit in sorted(hits, key=lambda h: (h.position, _RANK[h.activity])):
        if hit.activity is Activity.WAITING:
            continue
        if hit.activity is Activity.WORKING:
            retry = next((h for h in hits if h.activity is Activity.RETRYING and h.position == hit.position + 1), None)
            if retry is None:
                break
            hit = retry  # a spinner right under a retry notice is that retry's wait (aider)
        reset_at = _reset_at(kind, hit, lines, now, local_tz)
        if hit.activity is Activity.LIMITED and reset_at is not None and reset_at <= now.timestamp():
            continue  # an old limit message: its reset time has passed
        return Observation(activity=hit.activity, detail=hit.detail, reset_at=reset_at, evidence=Evidence.SCREEN)
    for activity in _IDLE:
        if activity in title_hits:
            return Observation(activity=activity, detail=title.strip(), evidence=Evidence.TITLE)
    for activity in _IDLE:
        for hit in hits:
            if hit.activity is activity:
                return Observation(activity=activity, detail=hit.detail, evidence=Evidence.SCREEN)
    return Observation(activity=Activity.UNKNOWN)


def classify_output(
    kind: Kind,
    last_lines: str | Sequence[str],
    exit_code: int | None,
    *,
    user_patterns: Mapping[str, Sequence[str]] | None = None,
    now: datetime | None = None,
    local_tz: tzinfo | None = None,
) -> Verdict:
    """How a headless run ended. Failure text decides even after exit 0 (aider exits 0 after a 401).

    `user_patterns` are fleet.toml's failure_patterns by group (rate_limit, usage_limit, auth,
    context_full), matched like the kind's own, ignoring case. The lowest matching line wins.
    """
    now, local_tz = _clock(now, local_tz)
    lines = last_lines.splitlines() if isinstance(last_lines, str) else list(last_lines)
    groups: list[tuple[str, Sequence[re.Pattern[str]]]] = [(f.group, f.patterns) for f in kind.failures]
    for user_group, texts in (user_patterns or {}).items():
        groups.append((user_group, [re.compile(text, re.IGNORECASE) for text in texts]))
    best: tuple[int, int, str, str] | None = None  # (position, rank, group, line)
    for group, patterns in groups:
        for position, line in enumerate(reversed(lines)):
            if best is not None and position > best[0]:
                break
            if any(p.search(line) for p in patterns):
                candidate = (position, _GROUP_RANK.get(group, len(_GROUP_RANK)), group, line.strip())
                best = candidate if best is None else min(best, candidate)
                break
    if best is not None:
        position, _, group, line = best
        outcome = FAILURE_GROUPS.get(group, Outcome.CRASHED)
        reset_at = None
        if outcome is Outcome.RATE_LIMITED:
            below = "\n".join(lines[len(lines) - 1 - position :])
            for text in (line, below, "\n".join(lines)):
                reset_at = parse_reset(text, now, local_tz, kind.reset_patterns)
                if reset_at is not None:
                    break
        return Verdict(outcome=outcome, detail=line, reset_at=reset_at)
    if exit_code == 0:
        return Verdict(outcome=Outcome.CLEAN, detail="exited with code 0")
    how = "ended without an exit code" if exit_code is None else f"exited with code {exit_code}"
    return Verdict(outcome=Outcome.CRASHED, detail=how)


def _clock(now: datetime | None, local_tz: tzinfo | None) -> tuple[datetime, tzinfo]:
    if now is None:
        now = datetime.now(UTC)
    if local_tz is None:
        local_tz = datetime.now().astimezone().tzinfo or UTC
    return now, local_tz


def _tail(screen_text: str, count: int) -> list[str]:
    """The last `count` non-blank lines: a pane's empty rows below the prompt say nothing."""
    lines = [line.rstrip() for line in screen_text.splitlines()]
    return [line for line in lines if line.strip()][-count:]


def _screen_hits(kind: Kind, lines: list[str]) -> list[_Hit]:
    """For each activity, its lowest matching line within its window."""
    hits = []
    for entry in kind.activities:
        if not entry.screen:
            continue
        window = lines[-entry.lines :] if entry.lines else lines
        for position, line in enumerate(reversed(window)):
            m = next((m for p in entry.screen if (m := p.search(line))), None)
            if m is not None:
                detail = m.group("detail") if "detail" in m.re.groupindex and m.group("detail") else line
                hits.append(_Hit(activity=entry.activity, position=position, line=line, detail=detail.strip(_FRAME)))
                break
    return hits


def _reset_at(kind: Kind, hit: _Hit, lines: list[str], now: datetime, local_tz: tzinfo) -> float | None:
    """A limit's or a retry's time, from its own line, else from the lines below it (a dialog may follow)."""
    if hit.activity not in (Activity.LIMITED, Activity.RETRYING):
        return None
    from_hit = "\n".join(lines[len(lines) - 1 - hit.position :])
    above = "\n".join(lines[max(0, len(lines) - 4 - hit.position) : len(lines) - hit.position])
    for text in (hit.line, from_hit, above):
        found = parse_reset(text, now, local_tz, kind.reset_patterns)
        if found is not None:
            return found
    return None
