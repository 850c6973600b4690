"""Applying sessions to a start: the agent's own config dir, the resume arguments, the events.

Runs inside a pass (the caller holds the store's lock). What was resumed is remembered in the
store's meta table (`session.<agent>`; `session-next.<agent>` for what the person asked the next
start to do); the id itself comes from disk at this moment (resume.decide).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from shlex import quote
from typing import TYPE_CHECKING

from fleetctl.kinds.model import Kind
from fleetctl.model import AgentRecord, AgentSpec
from fleetctl.record import record
from fleetctl.sessions import locate
from fleetctl.sessions.resume import Next, decide

__all__ = ["Next", "SessionInfo", "ask_next", "current", "prepare", "with_session"]

if TYPE_CHECKING:
    from fleetctl.runtime.context import Runtime

PLACEHOLDER = "{session_args}"
_RECORDED = "session."
_NEXT = "session-next."


@record
class SessionInfo:
    """The session an agent is in now, read from disk: what `status` shows."""

    id: str
    path: Path
    age_s: float
    mtime: float


def kind_of(rt: Runtime, spec: AgentSpec) -> Kind | None:
    """The agent's kind, when it has sessions (None for generic and session-less kinds)."""
    if spec.kind == "generic":
        return None
    kind = kinds(rt).get(spec.kind)
    if kind is None or not locate.has_sessions(kind.session):
        return None
    return kind


_LOADED: list[tuple[object, dict[str, Kind]]] = []  # the fleet file's [kinds] tables, compiled once


def kinds(rt: Runtime) -> dict[str, Kind]:
    """Every kind the fleet knows, compiled once per [kinds] table (passes look often)."""
    tables = rt.spec.kinds or None
    for seen, loaded in _LOADED:
        if seen is tables:
            return loaded
    from fleetctl.kinds import load_kinds

    loaded = load_kinds(tables, path=rt.spec.path)
    _LOADED[:] = [(tables, loaded)]
    return loaded


def agent_env(spec: AgentSpec) -> dict[str, str]:
    """The environment the agent's client sees (the tmux server's, approximated by ours, and its own)."""
    return {**os.environ, **dict(spec.env)}


def isolated(kind: Kind, spec: AgentSpec) -> bool:
    """An agent gets its own config dir unless the kind cannot move it or the fleet file moves it itself."""
    env_key = kind.session.config_dir_env
    return bool(env_key) and env_key not in dict(spec.env)


def transcript_dir(rt: Runtime, kind: Kind, spec: AgentSpec, env: Mapping[str, str] | None = None) -> Path:
    env = agent_env(spec) if env is None else env
    config = locate.config_dir(kind.session, rt.spec.state_dir, spec.name, env, isolated(kind, spec))
    return locate.transcript_dir(kind.session, config, spec.cwd)


def current(rt: Runtime, spec: AgentSpec, now: float) -> SessionInfo | None:
    """The agent's newest session on disk (None: none yet, or a kind without sessions)."""
    kind = kind_of(rt, spec)
    if kind is None:
        return None
    found = locate.transcripts(kind.session, transcript_dir(rt, kind, spec))
    if not found:
        return None
    newest = found[0]
    return SessionInfo(id=newest.id, path=newest.path, age_s=max(0.0, now - newest.mtime), mtime=newest.mtime)


def note_new(rt: Runtime, records: Mapping[str, AgentRecord], now: float) -> None:
    """Record the session a fresh start's run began, once its transcript is on disk (one look per
    pass at each such agent until then), so a later start can tell when it is gone."""
    specs = [s for s in rt.spec.agents if s.kind != "generic"]
    if not specs:
        return
    from fleetctl.runtime.events import emit

    meta = rt.store.ops.meta_values()
    for spec in specs:
        record_ = records.get(spec.name)
        run = record_.current if record_ is not None else None
        if run is None or not run.live or meta.get(_RECORDED + spec.name):
            continue
        info = current(rt, spec, now)
        if info is not None and info.mtime >= run.started - 1.0:
            rt.store.history.set_meta(_RECORDED + spec.name, info.id)
            emit(rt, "session-started", spec.name, f"new session {info.id}", {"session": info.id}, now)
            old = meta.get("rotated-from." + spec.name)
            if old:
                rt.store.history.set_meta("rotated-from." + spec.name, "")
                reason = f"context rotated from session {old} to {info.id}"
                emit(rt, "context-rotated", spec.name, reason, {"from": old, "to": info.id}, now)


def ask_next(rt: Runtime, agent: str, asked: Next, session: str | None = None) -> None:
    """Remember what the agent's next start does: a fresh session, or the given one."""
    value = "fresh" if asked is Next.FRESH else f"id:{session}" if asked is Next.PINNED else "latest"
    rt.store.history.set_meta(_NEXT + agent, value)


def exists(rt: Runtime, spec: AgentSpec, session: str) -> bool:
    kind = kind_of(rt, spec)
    return kind is not None and any(
        t.id == session for t in locate.transcripts(kind.session, transcript_dir(rt, kind, spec))
    )


def prepare(rt: Runtime, spec: AgentSpec, command: str, now: float) -> tuple[str, list[tuple[str, str]]]:
    """The command (with the resume arguments when a session is resumed) and the env this start adds."""
    from fleetctl.runtime.events import emit

    kind = kind_of(rt, spec)
    if kind is None:
        return command.replace(PLACEHOLDER, ""), []
    env = agent_env(spec)
    extra: list[tuple[str, str]] = []
    if isolated(kind, spec):
        own = locate.own_dir(rt.spec.state_dir, spec.name)
        locate.prepare_own_dir(kind.session, own, locate.user_dir(kind.session, env), env)
        extra = locate.own_env(kind.session, own)
    found = locate.transcripts(kind.session, transcript_dir(rt, kind, spec, env))
    recorded = rt.store.ops.meta_value(_RECORDED + spec.name) or None
    wanted = rt.store.ops.meta_value(_NEXT + spec.name) or ""
    asked = Next.FRESH if wanted == "fresh" else Next.PINNED if wanted.startswith("id:") else Next.LATEST
    enabled = spec.resume or wanted == "latest"  # `fleetctl resume` resumes even with resume = false
    plan = decide(found, recorded, enabled=enabled, asked=asked, pinned=wanted[3:] or None)
    if wanted:
        rt.store.history.set_meta(_NEXT + spec.name, "")
    rt.store.history.set_meta(_RECORDED + spec.name, plan.session or "")
    if plan.event:
        emit(rt, plan.event, spec.name, plan.reason, plan.data, now)
    prompt = rt.store.ops.meta_value("session-prompt." + spec.name) or ""
    if prompt:
        rt.store.history.set_meta("session-prompt." + spec.name, "")
        if plan.session is None and kind.session.prompt_args:
            args = " ".join(quote(a.replace("{prompt}", prompt)) for a in kind.session.prompt_args)
            command = f"{command} {args}"
    return with_session(command, kind.session.resume_args, plan.session), extra


def with_session(command: str, resume_args: tuple[str, ...], session: str | None) -> str:
    """The command with the resume arguments at `{session_args}`, or at its end."""
    args = " ".join(quote(a.replace("{session}", session)) for a in resume_args) if session else ""
    if PLACEHOLDER in command:
        return command.replace(PLACEHOLDER, args)
    return f"{command} {args}" if args else command
