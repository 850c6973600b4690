"""Which panes to look at this pass, and what their agents are doing: pure, so it is unit-tested
with recorded screens and a fixed clock.

A pane is captured only when it changed since the last look: tmux's activity time for its window
moved (tmux counts it in whole seconds, so output in the second of the last look counts as a
change), it is a new pane, its last reading came from the process tree that has gone quiet, or a
limit it showed has reached its reset time. At most `budget` panes per pass, those looked at
longest ago first; the rest stay changed and wait for the next pass. An idle fleet captures
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo

from fleetctl.humanize import duration
from fleetctl.kinds import Activity, Evidence, Kind, Observation, Outcome, classify_output, classify_screen, progress
from fleetctl.model import ActivityRow, AgentRecord
from fleetctl.model import Observation as PaneObservation
from fleetctl.record import record, replace

MAX_CAPTURES_PER_PASS = 16
# CPU seconds the agent's children (not the client itself: its own timers tick while it idles) must
# use between two passes to count as work, such as a test run.
TREE_BUSY_CPU_SECONDS = 0.2


@record
class Look:
    """One live pane of an agent of a known kind, as this pass observed it."""

    agent: str
    kind: Kind
    pane_id: str
    pane_activity: float  # tmux's #{window_activity}: when its window last had output
    title: str = ""
    child_cpu: float | None = None  # CPU seconds of the client's children; None: not scanned


@record
class Change:
    """An activity that differs from the last one recorded: one event each."""

    agent: str
    before: str
    after: Observation


@record
class Reading:
    """What a pass decided: the rows to store and the changes to report."""

    rows: tuple[ActivityRow, ...] = ()
    changes: tuple[Change, ...] = ()


def _parked(old: ActivityRow | None, seen: Observation) -> bool:
    """A limit that lifted keeps its agent `limited` until its continue text has been typed."""
    if old is None or old.activity != Activity.LIMITED.value or old.nudges or old.reset_at is None:
        return False
    return seen.activity not in (Activity.WORKING, Activity.LIMITED)


def changed(look: Look, before: ActivityRow | None, now: float) -> bool:
    """Has this pane anything new to show since the last look?"""
    if before is None or before.pane_id != look.pane_id:
        return True
    if look.pane_activity != before.pane_activity or look.pane_activity >= int(before.looked):
        return True
    if before.evidence == Evidence.TREE.value and not tree_busy(look, before):
        return True
    return before.activity == Activity.LIMITED.value and before.reset_at is not None and before.reset_at <= now


def tree_busy(look: Look, before: ActivityRow | None) -> bool:
    """Did the client's children work since the last pass?"""
    if look.child_cpu is None or before is None or before.pane_id != look.pane_id:
        return False
    return look.child_cpu - before.tree_cpu >= TREE_BUSY_CPU_SECONDS


def to_capture(
    looks: Sequence[Look], before: Mapping[str, ActivityRow], now: float, budget: int = MAX_CAPTURES_PER_PASS
) -> list[Look]:
    """The panes to capture this pass: changed ones whose children are not busy, oldest look first."""
    due = [
        look
        for look in looks
        if not tree_busy(look, before.get(look.agent)) and changed(look, before.get(look.agent), now)
    ]
    due.sort(key=lambda look: before[look.agent].looked if look.agent in before else 0.0)
    return due[: max(0, budget)]


def read(
    looks: Sequence[Look],
    before: Mapping[str, ActivityRow],
    screens: Mapping[str, str],
    now: float,
    local_tz: tzinfo | None = None,
) -> Reading:
    """Classify what was captured (screens by pane id) and what the process trees say."""
    when = datetime.fromtimestamp(now, UTC)
    rows: list[ActivityRow] = []
    changes: list[Change] = []
    for look in looks:
        old = before.get(look.agent)
        screen = screens.get(look.pane_id)
        busy = tree_busy(look, old)
        if busy:
            seen = classify_screen(look.kind, "", look.title, True, now=when, local_tz=local_tz)
        elif screen is not None:
            seen = classify_screen(look.kind, screen, look.title, False, now=when, local_tz=local_tz)
        else:
            if old is not None and look.child_cpu is not None and old.tree_cpu != look.child_cpu:
                rows.append(replace(old, tree_cpu=look.child_cpu))  # not looked at: only the CPU mark
            continue
        if old is not None and old.activity == seen.activity.value and old.detail == seen.detail and old.reset_at:
            seen = replace(seen, reset_at=old.reset_at)  # "try again in 3s" read again is no later reset
        if _parked(old, seen):
            continue  # limited until the continue text is typed (nudges), whatever the screen shows now
        previous = old.activity if old is not None else Activity.NONE.value
        working = seen.activity is Activity.WORKING
        same = old is not None and previous == seen.activity.value
        mark, progressed = _progress(look, old, screen if not busy else None, working, same, now)
        row = ActivityRow(
            agent=look.agent,
            activity=seen.activity.value,
            detail=seen.detail,
            reset_at=seen.reset_at,
            since=old.since if same and old is not None else now,
            evidence=seen.evidence.value,
            pane_id=look.pane_id,
            pane_activity=look.pane_activity if screen is not None else (old.pane_activity if old else 0.0),
            looked=now if screen is not None else (old.looked if old else 0.0),
            tree_cpu=look.child_cpu if look.child_cpu is not None else 0.0,
            nudged=None if working or old is None else old.nudged,
            nudges=0 if working or old is None else old.nudges,
            progress=mark,
            progressed=progressed,
        )
        rows.append(row)
        if previous != seen.activity.value:
            changes.append(Change(agent=look.agent, before=previous, after=seen))
    return Reading(rows=tuple(rows), changes=tuple(changes))


def _progress(
    look: Look, old: ActivityRow | None, screen: str | None, working: bool, same: bool, now: float
) -> tuple[str, float]:
    """(fingerprint, when it last progressed) of a working agent: its busy children are progress, a
    screen that differs once spinners and timers are masked is progress, a spinner alone is not."""
    if not working:
        return "", now
    if screen is None:  # working by its busy children
        return (old.progress if old is not None else ""), now
    mark = progress.digest(look.kind, screen)
    if same and old is not None and old.progress == mark and old.pane_id == look.pane_id:
        return mark, max(old.progressed, old.since)
    return mark, now


# An agent doing one of these is never idle: it works (while its screen or transcript progresses:
# idle_clock), or it waits for a person or a reset (and is reported as such, never killed as stalled).
NEVER_IDLE = frozenset({"working", "waiting", "asking", "limited"})


def idle_clock(
    obs: PaneObservation,
    records: Mapping[str, AgentRecord],
    rows: Mapping[str, ActivityRow],
    now: float,
    written: Mapping[str, float] | None = None,
) -> tuple[PaneObservation, dict[str, AgentRecord]]:
    """The observation and records as idle_timeout should see them for agents with an activity
    reading of their live pane: their own timers keep CPU busy and spinners keep the pane
    printing, so neither counts. Time counts while the agent is in none of NEVER_IDLE, from when
    it entered that state, and while it is `working` without progress (a hung API call): from its
    last progress on screen or, for kinds with transcripts, the last write of its transcript
    (`written`, by agent)."""
    agents = dict(obs.agents)
    out = dict(records)
    for name, row in rows.items():
        agent, record = agents.get(name), out.get(name)
        if agent is None or record is None or not agent.alive or row.pane_id != agent.pane.pane_id:
            continue
        clock = now if row.activity in NEVER_IDLE else row.since
        if row.activity == Activity.WORKING.value:
            clock = max(row.progressed, row.since, (written or {}).get(name, 0.0))
        agents[name] = replace(agent, pane=replace(agent.pane, activity=clock))
        out[name] = replace(record, last_activity=clock)
    return replace(obs, agents=agents), out


def stall_detail(row: ActivityRow, clock: float, now: float, idle_timeout: float) -> str:
    """Why an agent of a known kind is stalled, in its own terms (not the CPU and output it never stops making)."""
    quiet = duration(now - clock)
    if row.activity == Activity.WORKING.value:
        what = f"working with no progress on screen or in its transcript for {quiet}"
    else:
        what = f"{row.activity} for {quiet}" + (f": {row.detail}" if row.detail else "")
    return f"stalled: {what} (idle_timeout {duration(idle_timeout)})"


# After a limit lifts: the continue text is typed this long after the reset time, and the agent
# must show `working` within NUDGE_VERIFY_SECONDS; if not, once more, then an alert.
NUDGE_JITTER_SECONDS = 2.0
NUDGE_VERIFY_SECONDS = 60.0


@record
class Nudge:
    """Type the kind's continue text into an agent whose limit lifted (or alert: `alert` True)."""

    agent: str
    pane_id: str
    text: str
    submit: tuple[str, ...]
    alert: bool = False


def nudges(
    looks: Sequence[Look], before: Mapping[str, ActivityRow], now: float
) -> tuple[list[Nudge], list[ActivityRow]]:
    """The continue texts due now, and the rows that record them."""
    out: list[Nudge] = []
    rows: list[ActivityRow] = []
    for look in looks:
        row = before.get(look.agent)
        text = look.kind.keys.continue_text
        if row is None or row.pane_id != look.pane_id or not text or row.activity == Activity.WORKING.value:
            continue
        lifted = row.activity == Activity.LIMITED.value and row.reset_at is not None
        if row.nudges == 0 and lifted and row.reset_at is not None and now >= row.reset_at + NUDGE_JITTER_SECONDS:
            due = Nudge(agent=look.agent, pane_id=look.pane_id, text=text, submit=look.kind.keys.submit)
        elif 0 < row.nudges < 3 and row.nudged is not None and now - row.nudged >= NUDGE_VERIFY_SECONDS:
            due = Nudge(look.agent, look.pane_id, text, look.kind.keys.submit, alert=row.nudges == 2)
        else:
            continue
        out.append(due)
        rows.append(replace(row, nudged=now, nudges=row.nudges + 1))
    return out, rows


@record
class Retried:
    """An agent retrying past its retry_timeout, and the error it retries: a limit (parked until
    reset_at), auth (failed), otherwise a crash (killed and respawned)."""

    agent: str
    outcome: Outcome  # RATE_LIMITED, AUTH or CRASHED
    detail: str
    reset_at: float | None = None


def retrying_too_long(row: ActivityRow | None, retry_timeout: float | None, now: float) -> bool:
    """Has the client's own retry loop run for retry_timeout or longer?"""
    if row is None or retry_timeout is None or row.activity != Activity.RETRYING.value:
        return False
    return now - row.since >= retry_timeout


def retried_error(
    agent: str,
    kind: Kind,
    screen: str,
    row: ActivityRow,
    now: float,
    park: float,
    user_patterns: Mapping[str, Sequence[str]] | None = None,
    local_tz: tzinfo | None = None,
) -> Retried:
    """What a retry loop that lasted too long retries, read from its screen by the kind's failure
    patterns (as a headless run's last lines are); a limit without a reset time parks for `park`.
    The retry line itself is left out: its countdown is the client's next try, not the reset."""
    when = datetime.fromtimestamp(now, UTC)
    retry = kind.patterns(Activity.RETRYING)
    retry_lines = retry.screen if retry is not None else ()
    lines = [line for line in screen.splitlines() if not any(p.search(line) for p in retry_lines)]
    verdict = classify_output(kind, lines, None, user_patterns=user_patterns, now=when, local_tz=local_tz)
    if verdict.outcome is Outcome.RATE_LIMITED:
        reset = verdict.reset_at if verdict.reset_at is not None and verdict.reset_at > now else now + park
        return Retried(agent=agent, outcome=Outcome.RATE_LIMITED, detail=verdict.detail, reset_at=reset)
    if verdict.outcome is Outcome.AUTH:
        return Retried(agent=agent, outcome=Outcome.AUTH, detail=verdict.detail)
    return Retried(agent=agent, outcome=Outcome.CRASHED, detail=row.detail or "retrying")
