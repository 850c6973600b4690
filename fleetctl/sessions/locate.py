"""Where an agent's transcripts are on disk and which session each one is.

A kind names its transcript directory (with {config_dir}, {cwd}, {cwd_slug}, {cwd_sha256}) and a
glob; the session id is the file name's stem, or the `id` group of the kind's `id_pattern`. An
agent of a kind with a movable config dir (`config_dir_env`: CLAUDE_CONFIG_DIR, CODEX_HOME) gets
its own under the fleet's state dir, so two agents in one cwd never read each other's sessions.
The user's login stays theirs: every entry of their config dir except the kind's `private` ones
(the transcripts) is a symlink to the original, and so are the kind's `shared_files`.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path

from fleetctl.kinds.model import Session
from fleetctl.record import record

# Claude Code cuts a project directory's name at this length and adds a hash of the path.
_SLUG_MAX = 200


@record
class Transcript:
    """One conversation on disk: its session id, file and last write (epoch seconds)."""

    id: str
    path: Path
    mtime: float


def has_sessions(session: Session) -> bool:
    """Whether the kind says where its transcripts are and how to resume one."""
    return bool(session.transcript_dir and session.transcript_glob and session.resume_args)


def own_dir(state_dir: Path, agent: str) -> Path:
    """The agent's own config dir (its transcripts live below it)."""
    return state_dir / "sessions" / agent


def user_dir(session: Session, env: Mapping[str, str]) -> Path | None:
    """The config dir the client would use with `env` (the agent's environment)."""
    if session.config_dir_env and env.get(session.config_dir_env):
        return Path(env[session.config_dir_env])
    if not session.config_dir:
        return None
    return expand(session.config_dir, env)


def expand(path: str, env: Mapping[str, str]) -> Path:
    """`~` as the agent's HOME (its env's, else ours)."""
    if path == "~" or path.startswith("~/"):
        home = env.get("HOME") or os.path.expanduser("~")
        return Path(home + path[1:])
    return Path(path)


def config_dir(session: Session, state_dir: Path, agent: str, env: Mapping[str, str], isolate: bool) -> Path | None:
    """The config dir an agent's client writes to: its own one when the kind can move it."""
    if isolate and session.config_dir_env:
        return own_dir(state_dir, agent)
    return user_dir(session, env)


def transcript_dir(session: Session, config: Path | None, cwd: Path) -> Path:
    """The directory the kind's transcript glob is taken in."""
    real = os.path.realpath(cwd)
    slug = re.sub(r"[^A-Za-z0-9]", "-", real)
    values = {
        "config_dir": str(config or ""),
        "cwd": real,
        "cwd_slug": slug,
        "cwd_sha256": hashlib.sha256(real.encode()).hexdigest(),
    }
    text = session.transcript_dir
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    path = Path(text)
    if len(slug) > _SLUG_MAX and "{cwd_slug}" in session.transcript_dir and not path.exists():
        found = sorted(path.parent.glob(glob_escape(slug[:_SLUG_MAX]) + "-*"))
        if found:
            return found[0]
    return path


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def session_id(session: Session, name: str) -> str | None:
    """The session id a transcript's file name carries (None: not one of the kind's transcripts)."""
    if not session.id_pattern:
        return name.rsplit(".", 1)[0] or None
    found = re.search(session.id_pattern, name)
    if found is None:
        return None
    return found.groupdict().get("id") or found.group(0)


def transcripts(session: Session, directory: Path) -> list[Transcript]:
    """Every transcript in `directory`, newest first (an unreadable or missing one is skipped)."""
    out = []
    try:
        paths = list(directory.glob(session.transcript_glob))
    except OSError:
        return []
    for path in paths:
        sid = session_id(session, path.name)
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue
        if sid:
            out.append(Transcript(id=sid, path=path, mtime=mtime))
    out.sort(key=lambda t: (t.mtime, t.id), reverse=True)
    return out


def prepare_own_dir(session: Session, own: Path, user: Path | None, env: Mapping[str, str]) -> None:
    """Create the agent's own config dir and link the user's config into it (its login, settings).

    Kept: entries already there (a file the client replaced with its own copy stays its own).
    Private entries (the transcripts) are never linked.
    """
    own.mkdir(mode=0o700, parents=True, exist_ok=True)
    links: dict[str, Path] = {}
    if user is not None and user.is_dir() and user.resolve() != own.resolve():
        for entry in user.iterdir():
            if entry.name not in session.private:
                links[entry.name] = entry
    for shared in session.shared_files:
        path = expand(shared, env)
        if path.exists():
            links[path.name] = path
    for name, target in links.items():
        here = own / name
        if not here.exists() and not here.is_symlink():
            try:
                here.symlink_to(target)
            except OSError:
                continue


def own_env(session: Session, own: Path) -> list[tuple[str, str]]:
    """The env that points the client at the agent's own config dir."""
    out = [(session.config_dir_env, str(own))]
    for item in session.own_env:
        key, _, value = item.partition("=")
        out.append((key, value))
    return out
