"""What each agent's runs used, in tokens and dollars, read from disk when asked (status, report).

Transcripts are the truth (start.py gives each agent its own), so nothing is counted twice and a
lost store loses no spending. aider's counts come from each run's log instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fleetctl.kinds.model import Kind
from fleetctl.model import AgentSpec
from fleetctl.sessions import locate, start, usage
from fleetctl.sessions.usage import Entry, Usage

if TYPE_CHECKING:
    from fleetctl.runtime.context import Runtime


def usage_kind(rt: Runtime, spec: AgentSpec) -> Kind | None:
    """The agent's kind when it says where its token counts are (with or without sessions)."""
    kind = start.kinds(rt).get(spec.kind) if spec.kind != "generic" else None
    return kind if kind is not None and kind.session.usage else None


def entries(rt: Runtime, spec: AgentSpec, kind: Kind) -> list[Entry]:
    """Every answer the agent's client recorded, oldest first where dated."""
    reader = kind.session.usage
    out: list[Entry] = []
    if reader == "command":
        return sorted(_from_command(rt, spec, kind), key=lambda e: e.time or 0.0)
    if reader == "aider-output":
        folder = rt.logs_dir / spec.name
        for log in sorted(folder.glob("*.log")) if folder.is_dir() else []:
            run = rt.store.run(log.stem)
            when = run.started if run is not None else log.stat().st_mtime
            out += usage.aider_entries(log.read_text(errors="replace"), when)
        return out
    parse = usage.claude_entries if reader == "claude-transcript" else usage.codex_entries
    for transcript in locate.transcripts(kind.session, start.transcript_dir(rt, kind, spec)):
        out += _parsed(transcript.path, parse)
    return sorted(out, key=lambda e: e.time or 0.0)


USAGE_COMMAND_SECONDS = 10.0


def _from_command(rt: Runtime, spec: AgentSpec, kind: Kind) -> list[Entry]:
    """The kind's usage command, run in the agent's cwd with its env and where its logs and
    transcripts are; a command that fails or hangs counts nothing (the report says no usage)."""
    env = {**os.environ, **dict(spec.env), "FLEET_AGENT": spec.name, "FLEET_LOG_DIR": str(rt.logs_dir / spec.name)}
    if kind.session.transcript_dir:
        env["FLEET_TRANSCRIPT_DIR"] = str(start.transcript_dir(rt, kind, spec))
    return _run_usage_command(kind, spec.cwd, env) or []


def _run_usage_command(kind: Kind, cwd: Path, env: dict[str, str]) -> list[Entry] | None:
    """The entries the usage command printed; None when it has none, fails or hangs."""
    import subprocess

    if not kind.session.usage_command:
        return None
    try:
        done = subprocess.run(
            ["/bin/sh", "-c", kind.session.usage_command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=USAGE_COMMAND_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return usage.command_entries(done.stdout) if done.returncode == 0 else None


# Parsed transcripts by path, kept while their size and mtime stay (budgets look every pass).
_CACHE: dict[Path, tuple[tuple[int, float], list[Entry]]] = {}


def _parsed(path: Path, parse: Callable[[str], list[Entry]]) -> list[Entry]:
    try:
        stat = path.stat()
        key = (stat.st_size, stat.st_mtime)
        cached = _CACHE.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        found = parse(path.read_text(errors="replace"))
    except OSError:
        return []
    if len(_CACHE) > 1000:
        _CACHE.clear()
    _CACHE[path] = (key, found)
    return found


def since(rt: Runtime, spec: AgentSpec, begin: float, end: float | None = None) -> Usage | None:
    """The agent's usage between two times (a run's start and end); None for kinds without counts."""
    kind = usage_kind(rt, spec)
    if kind is None:
        return None
    return usage.total(kind, usage.between(entries(rt, spec, kind), begin, end))


def report(
    rt: Runtime, begin: float, end: float | None = None, specs: Sequence[AgentSpec] | None = None
) -> dict[str, object]:
    """`report`'s usage section: per agent, per day (UTC) and in total, with the models no price names."""
    agents: dict[str, Usage] = {}
    days: dict[str, Usage] = {}
    whole = Usage()
    unpriced: set[str] = set()
    for spec in rt.spec.agents if specs is None else specs:
        kind = usage_kind(rt, spec)
        if kind is None:
            continue
        chosen = usage.between(entries(rt, spec, kind), begin, end)
        unpriced.update(usage.unpriced(kind, chosen))
        mine = Usage()
        for entry in chosen:
            one = usage.total(kind, [entry])
            day = datetime.fromtimestamp(entry.time or 0.0, UTC).strftime("%Y-%m-%d")
            days[day] = days.get(day, Usage()) + one
            mine = mine + one
        agents[spec.name] = mine
        whole = whole + mine
    pools, tasks = _task_usage(rt, begin, end, days)
    for used in tasks.values():
        whole = whole + used
    return {
        "agents": {name: u.as_json() for name, u in sorted(agents.items())},
        "pools": {name: u.as_json() for name, u in sorted(pools.items())},
        "tasks": {str(task): u.as_json() for task, u in sorted(tasks.items())},
        "days": {day: u.as_json() for day, u in sorted(days.items())},
        "total": whole.as_json(),
        "unpriced_models": sorted(unpriced),
    }


def _task_usage(
    rt: Runtime, begin: float, end: float | None, days: dict[str, Usage]
) -> tuple[dict[str, Usage], dict[int, Usage]]:
    """Per pool and per task: the attempts that ran in [begin, end), from their transcripts."""
    pools: dict[str, Usage] = {}
    tasks: dict[int, Usage] = {}
    if not any(p.kind != "generic" for p in rt.spec.pools) or not rt.store.path.exists():
        return pools, tasks
    until = time.time() if end is None else end
    for a in rt.store.task_attempts_between(begin, until):
        pool = a.agent.split(".")[0]
        work = rt.store.review.work(a.task_id)
        span = (max(a.started, begin), a.ended if end is None else min(a.ended or end, end))
        used = attempt(rt, pool, work.worktree, *span, window=a.agent, run_id=a.run_id)
        if used is None or not used.messages:
            continue
        pools[pool] = pools.get(pool, Usage()) + used
        tasks[a.task_id] = tasks.get(a.task_id, Usage()) + used
        day = datetime.fromtimestamp(a.started, UTC).strftime("%Y-%m-%d")
        days[day] = days.get(day, Usage()) + used
    return pools, tasks


def today_start(now: float | None = None) -> float:
    """Midnight UTC of the day `now` is in."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def attempt(
    rt: Runtime,
    pool_name: str | None,
    worktree: str | None,
    started: float,
    ended: float | None,
    window: str | None = None,
    run_id: str | None = None,
) -> Usage | None:
    """One task attempt's usage (None: unknown). Transcripts: the pool kind's in the task's working
    directory, written while the attempt ran (pool task windows keep the user's config dir);
    aider: the attempt's own run log; a usage command: run as for the task window `window`."""
    pool = rt.spec.pool(pool_name) if pool_name else None
    if pool is None or pool.kind == "generic":
        return None
    kind = start.kinds(rt).get(pool.kind)
    if kind is None or not kind.session.usage:
        return None
    env = {**os.environ, **dict(pool.env)}
    cwd = Path(worktree) if worktree else pool.cwd
    if kind.session.usage == "aider-output":
        log = rt.log_path(window, run_id) if window and run_id else None
        if log is None or not log.is_file():
            return None
        return usage.total(kind, usage.aider_entries(log.read_text(errors="replace"), started))
    if kind.session.usage == "command":
        if window is None:
            return None
        env.update({"FLEET_AGENT": window, "FLEET_LOG_DIR": str(rt.logs_dir / window), "FLEET_WORKSPACE": str(cwd)})
        told = _run_usage_command(kind, cwd if cwd.is_dir() else pool.cwd, env)
        return None if told is None else usage.total(kind, usage.between(told, started, ended))
    directory = locate.transcript_dir(kind.session, locate.user_dir(kind.session, env), cwd)
    parse = usage.claude_entries if kind.session.usage == "claude-transcript" else usage.codex_entries
    found = []
    for transcript in locate.transcripts(kind.session, directory):
        if transcript.mtime >= started:
            found += parse(transcript.path.read_text(errors="replace"))
    return usage.total(kind, usage.between(found, started, ended))
