"""Starts of an agent whose kind has sessions resume its newest conversation on disk.

A stand-in client (a shell script of a kind based on claude) writes its transcript where Claude
Code does ($CLAUDE_CONFIG_DIR/projects/<cwd slug>/<id>.jsonl) and notes the arguments it got.
Real tmux, real processes, real files. The real Claude Code is in tests/agents.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for

pytestmark = pytest.mark.tmux

CLIENT = """#!/bin/sh
# A stand-in for a chat client: one transcript per session, one line per start.
echo "$*" >> "$PWD/$FLEET_AGENT.args"
dir="$CLAUDE_CONFIG_DIR/projects/$(pwd -P | sed 's/[^A-Za-z0-9]/-/g')"
mkdir -p "$dir"
if [ "$1" = "--resume" ]; then id="$2"; else id=$(cat /proc/sys/kernel/random/uuid); fi
echo '{"type":"user"}' >> "$dir/$id.jsonl"
exec sleep 300
"""


def _fleet(fleet_dir: FleetHarness, agents: str = "a") -> Path:
    client = fleet_dir.dir / "chat.sh"
    client.write_text(CLIENT)
    client.chmod(0o755)
    body = '[kinds.chat]\nbase = "claude"\n'
    for name in agents.split():
        body += f'[agents.{name}]\ncommand = "{client}"\nkind = "chat"\nmin_uptime = "0.2s"\n'
    fleet_dir.write(body)
    return client


def _args(fleet_dir: FleetHarness, agent: str = "a") -> list[str]:
    path = fleet_dir.dir / f"{agent}.args"
    return path.read_text().splitlines() if path.exists() else []


def _session(fleet_dir: FleetHarness, agent: str = "a") -> str:
    return str(wait_for(lambda: fleet_dir.status()[agent]["session"], what=f"{agent}'s session on disk"))


def _events(fleet_dir: FleetHarness, kind: str) -> list[str]:
    return [e.reason for e in fleet_dir.fleet().store.events() if e.kind == kind]


def test_restart_resumes_repoints_and_starts_fresh_when_asked(fleet_dir: FleetHarness) -> None:
    _fleet(fleet_dir)
    assert fleet_dir.run("up").code == 0
    first = _session(fleet_dir)
    row = fleet_dir.status()["a"]
    assert isinstance(row["session_age_s"], float) and row["session_age_s"] < 60, row
    assert _args(fleet_dir) == [""]
    shown = fleet_dir.run("status", "a")
    assert f"session:    {first}" in shown.out, shown.out

    assert fleet_dir.run("restart", "a").code == 0
    wait_for(lambda: len(_args(fleet_dir)) == 2)
    assert _args(fleet_dir)[-1] == f"--resume {first}"
    transcript = fleet_dir.state_dir() / "sessions" / "a" / "projects"
    files = list(transcript.glob("*/*.jsonl"))
    assert [f.stem for f in files] == [first] and len(files[0].read_text().splitlines()) == 2
    assert _events(fleet_dir, "session-resumed") == [f"resuming session {first}"]

    # The client started another conversation since: the newer transcript wins over the record.
    newer = files[0].with_name("0b5e7d1c-1111-4222-8333-444455556666.jsonl")
    newer.write_text('{"type":"user"}\n')
    os.utime(newer, (files[0].stat().st_mtime + 5,) * 2)
    assert fleet_dir.run("restart", "a").code == 0
    wait_for(lambda: len(_args(fleet_dir)) == 3)
    assert _args(fleet_dir)[-1] == f"--resume {newer.stem}"
    [repointed] = _events(fleet_dir, "session-repointed")
    assert first in repointed and newer.stem in repointed

    assert fleet_dir.run("restart", "a", "--fresh").code == 0
    wait_for(lambda: len(_args(fleet_dir)) == 4)
    assert _args(fleet_dir)[-1] == ""
    fresh = wait_for(lambda: (s := _session(fleet_dir)) not in (first, newer.stem) and s)

    assert fleet_dir.run("resume", "a", "--session", first).code == 0
    wait_for(lambda: len(_args(fleet_dir)) == 5)
    assert _args(fleet_dir)[-1] == f"--resume {first}"
    assert fresh != first


def test_a_session_gone_from_disk_is_reported_and_a_fresh_one_started(fleet_dir: FleetHarness) -> None:
    _fleet(fleet_dir)
    assert fleet_dir.run("up").code == 0
    first = _session(fleet_dir)
    for path in (fleet_dir.state_dir() / "sessions" / "a" / "projects").glob("*/*.jsonl"):
        path.unlink()
    assert fleet_dir.run("restart", "a").code == 0
    wait_for(lambda: len(_args(fleet_dir)) == 2)
    assert _args(fleet_dir)[-1] == ""
    [gone] = _events(fleet_dir, "session-gone")
    assert gone == f"session {first} no longer exists on disk; starting a fresh session"


def test_two_agents_in_one_cwd_keep_their_sessions_apart(fleet_dir: FleetHarness) -> None:
    _fleet(fleet_dir, "a b")
    home = Path(os.environ["HOME"])
    (home / ".claude").mkdir()
    (home / ".claude" / ".credentials.json").write_text("{}")
    assert fleet_dir.run("up").code == 0
    a, b = _session(fleet_dir, "a"), _session(fleet_dir, "b")
    assert a != b
    assert fleet_dir.run("restart", "b").code == 0
    wait_for(lambda: len(_args(fleet_dir, "b")) == 2)
    assert _args(fleet_dir, "b")[-1] == f"--resume {b}"
    own = fleet_dir.state_dir() / "sessions" / "b"
    assert (own / ".credentials.json").is_symlink()  # the user's login, linked
    assert sorted(p.name for p in (home / ".claude").iterdir()) == [".credentials.json"]  # untouched


def test_resume_rejects_what_it_cannot_do(fleet_dir: FleetHarness) -> None:
    _fleet(fleet_dir)
    with open(fleet_dir.path, "a") as f:
        f.write('[agents.plain]\ncommand = "sleep 300"\n')
    missing = fleet_dir.run("resume", "a", "--session", "nope")
    assert missing.code == 2 and "a has no session 'nope' on disk" in missing.err, missing
    assert missing.err.count("\n") == 1
    plain = fleet_dir.run("resume", "plain")
    assert plain.code == 2 and "plain is of kind generic, which has no sessions" in plain.err, plain
    assert json.loads(fleet_dir.run("status", "--json").out)[0]["pid"] is None
