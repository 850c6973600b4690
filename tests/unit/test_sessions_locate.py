"""Reading session ids from transcripts on disk, and each agent's own config dir."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fleetctl.kinds import builtin_kinds
from fleetctl.sessions import locate
from fleetctl.sessions.start import with_session

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transcripts"
CLAUDE_ID = "c533830f-2bd8-4d70-a71b-da8c3e3c4eed"
CODEX_ID = "01a2488c-71e9-7bc2-ba74-86fc99e46f14"


def test_claude_session_id_is_the_transcript_name_and_newest_wins(tmp_path: Path) -> None:
    session = builtin_kinds()["claude"].session
    config = tmp_path / "own"
    directory = locate.transcript_dir(session, config, Path("/tmp/rec/work"))
    assert directory == config / "projects" / "-tmp-rec-work"
    directory.mkdir(parents=True)
    shutil.copy(FIXTURES / "claude" / f"{CLAUDE_ID}.jsonl", directory)
    older = directory / "0d3b0e42-0000-4000-8000-000000000000.jsonl"
    older.write_text("{}\n")
    os.utime(older, (1000.0, 1000.0))
    (directory / "notes.txt").write_text("not a transcript")
    found = locate.transcripts(session, directory)
    assert [t.id for t in found] == [CLAUDE_ID, older.stem]


def test_codex_session_id_comes_from_the_rollout_name(tmp_path: Path) -> None:
    session = builtin_kinds()["codex"].session
    directory = locate.transcript_dir(session, tmp_path, Path("/anywhere"))
    day = directory / "2026" / "12" / "05"
    day.mkdir(parents=True)
    for path in (FIXTURES / "codex").iterdir():
        shutil.copy(path, day)
    assert [t.id for t in locate.transcripts(session, directory)] == [CODEX_ID]
    assert locate.session_id(session, "rollout-2026-12-05T23-31-33.jsonl") is None


def test_no_transcript_dir_means_no_sessions(tmp_path: Path) -> None:
    session = builtin_kinds()["claude"].session
    assert locate.transcripts(session, tmp_path / "missing") == []


def test_own_config_dir_links_the_login_but_keeps_transcripts_apart(tmp_path: Path) -> None:
    session = builtin_kinds()["claude"].session
    home = tmp_path / "home"
    user = home / ".claude"
    (user / "projects" / "-x").mkdir(parents=True)
    (user / ".credentials.json").write_text('{"token": "user login"}')
    (user / "settings.json").write_text("{}")
    (home / ".claude.json").write_text('{"hasCompletedOnboarding": true}')
    env = {"HOME": str(home)}
    assert locate.user_dir(session, env) == user
    own = tmp_path / "state" / "sessions" / "a1"
    locate.prepare_own_dir(session, own, locate.user_dir(session, env), env)
    assert (own / ".credentials.json").read_text() == '{"token": "user login"}'
    assert (own / ".claude.json").is_symlink()
    assert (own / "settings.json").is_symlink()
    assert not (own / "projects").exists()
    assert sorted(p.name for p in user.iterdir()) == [".credentials.json", "projects", "settings.json"]
    locate.prepare_own_dir(session, own, user, env)  # again: nothing changes, nothing fails
    assert locate.own_env(session, own) == [("CLAUDE_CONFIG_DIR", str(own)), ("CLAUDE_SECURESTORAGE_CONFIG_DIR", "")]


def test_the_config_dir_env_of_the_agent_names_the_user_dir(tmp_path: Path) -> None:
    session = builtin_kinds()["codex"].session
    assert locate.user_dir(session, {"CODEX_HOME": str(tmp_path)}) == tmp_path
    assert locate.user_dir(session, {"HOME": "/h"}) == Path("/h/.codex")


def test_resume_arguments_go_at_the_placeholder_or_the_end() -> None:
    args = ("--resume", "{session}")
    assert with_session("claude --model x", args, "abc") == "claude --model x --resume abc"
    assert with_session("claude {session_args} 2>err", args, "abc") == "claude --resume abc 2>err"
    assert with_session("claude {session_args} 2>err", args, None) == "claude  2>err"
    assert with_session("claude", args, None) == "claude"
