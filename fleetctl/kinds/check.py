"""A kind's one-shot check, as data and verdict: which command line proves an agent's key works,
and what its output says (ok, auth, limited until a time, or the check failed). No I/O: doctor
runs the command.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

from fleetctl.kinds.classify import classify_output
from fleetctl.kinds.model import Kind, Outcome
from fleetctl.record import record

# Shell syntax after which appended arguments would go to the wrong command (a pipe, a list).
_SHELL_SYNTAX = re.compile(r"[;&|<>()`\n]|\$\(")
_PLACEHOLDER = re.compile(r"\{[A-Za-z_]+\}")
LINE_LIMIT = 300


@record
class CheckVerdict:
    """One agent's check result, as doctor prints it."""

    ok: bool
    detail: str
    reset_at: float | None = None


def check_command(command: str, kind: Kind) -> tuple[str | None, str]:
    """The check's shell command line (the agent's command with the kind's check arguments), or
    None and why there is none.

    A pool's command names its task (`--message-file {task_file}`, `exec {task_file}`): the check
    keeps the words before the first placeholder, less the options left waiting for a value and a
    last word the check arguments start with (codex's `exec`).
    """
    if not kind.check.args:
        return None, f"kind {kind.name} has no check (set [kinds.{kind.name}] check.args to add one)"
    if _SHELL_SYNTAX.search(command):
        return None, "its command is not one simple command, so the check arguments have no place in it"
    if _PLACEHOLDER.search(command):
        try:
            words = shlex.split(command)
        except ValueError:
            return None, "its command cannot be split into words"
        kept: list[str] = []
        for word in words:
            if _PLACEHOLDER.search(word):
                break
            kept.append(word)
        while len(kept) > 1 and kept[-1].startswith("-") and "=" not in kept[-1]:
            kept.pop()
        if len(kept) > 1 and kept[-1] == kind.check.args[0]:
            kept.pop()
        if not kept:
            return None, "its command starts with a placeholder"
        command = shlex.join(kept)
    return f"{command} {shlex.join(kind.check.args)}", ""


def judge(
    kind: Kind,
    lines: Sequence[str],
    exit_code: int | None,
    seconds: float,
    timed_out: bool,
    *,
    now: datetime | None = None,
    local_tz: tzinfo | None = None,
) -> CheckVerdict:
    """What the check's output says, by the kind's failure patterns: a limit or auth line decides
    even after exit 0 (aider) or a timeout (a client still retrying has already said why)."""
    now = now or datetime.now(UTC)
    local_tz = local_tz or datetime.now().astimezone().tzinfo or UTC
    verdict = classify_output(kind, lines, 0 if timed_out else exit_code, now=now, local_tz=local_tz)
    detail = verdict.detail[:LINE_LIMIT]
    if verdict.outcome is Outcome.AUTH:
        return CheckVerdict(ok=False, detail=f"auth: {detail}")
    if verdict.outcome is Outcome.RATE_LIMITED:
        if verdict.reset_at is None:
            return CheckVerdict(ok=False, detail=f"limited (no reset time given): {detail}")
        when = datetime.fromtimestamp(verdict.reset_at, local_tz).strftime("%Y-%m-%d %H:%M %Z").strip()
        return CheckVerdict(ok=False, detail=f"limited until {when}: {detail}", reset_at=verdict.reset_at)
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    said = f": {last[:LINE_LIMIT]}" if last else " and printed nothing"
    if verdict.outcome is Outcome.CONTEXT_FULL:
        return CheckVerdict(ok=False, detail=f"check failed: context full: {detail}")
    if timed_out:
        return CheckVerdict(ok=False, detail=f"check failed: no answer within {seconds:g}s{said}")
    if verdict.outcome is Outcome.CRASHED:
        return CheckVerdict(ok=False, detail=f"check failed: {verdict.detail}{said}")
    return CheckVerdict(ok=True, detail=f"ok: answered in {seconds:.1f}s")
