"""A full context: `notify` alerts once; `rotate` asks for a handoff, waits for the file, and starts a
fresh session whose first prompt points at it. Real tmux, real processes; a stand-in client that
answers the handoff request typed into its pane by writing the file."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for

pytestmark = pytest.mark.tmux

CLIENT = r"""#!/bin/sh
printf '%s\n' "$*" >> "$PWD/$FLEET_AGENT.args"
dir="$CLAUDE_CONFIG_DIR/projects/$(pwd -P | sed 's/[^A-Za-z0-9]/-/g')"
mkdir -p "$dir"
if [ "$1" = "--resume" ]; then id="$2"; else id=$(cat /proc/sys/kernel/random/uuid); fi
echo '{"type":"user"}' >> "$dir/$id.jsonl"
while read -r line; do
  file=$(printf '%s\n' "$line" | sed -n 's/.* to \(\/[^ ]*\.md\), then stop\./\1/p')
  [ -n "$file" ] && printf 'done: parsing\nnext: tests\n' > "$file"
done
"""


def _fleet(fleet_dir: FleetHarness, mode: str) -> None:
    client = fleet_dir.dir / "chat.sh"
    client.write_text(CLIENT)
    client.chmod(0o755)
    fleet_dir.write(f"""
    [kinds.chat]
    base = "claude"
    session.context_limit = 1000

    [agents.a]
    command = "{client}"
    kind = "chat"
    min_uptime = "0.2s"
    on_context_full = "{mode}"
    handoff_timeout = "30s"
    """)


def _answer(fleet_dir: FleetHarness, tokens: int) -> None:
    folder = fleet_dir.state_dir() / "sessions" / "a" / "projects"
    found = wait_for(lambda: sorted(folder.glob("*/*.jsonl"), key=lambda p: p.stat().st_mtime), what="transcript")
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    message = {"id": f"m{tokens}", "model": "m", "usage": {"input_tokens": tokens, "output_tokens": 1}}
    with open(found[-1], "a") as f:
        f.write(json.dumps({"type": "assistant", "timestamp": stamp, "message": message}) + "\n")


def _events(fleet_dir: FleetHarness, kind: str) -> list[str]:
    return [e.reason for e in fleet_dir.fleet().store.events() if e.kind == kind]


def test_notify_alerts_once_and_leaves_the_agent_running(fleet_dir: FleetHarness) -> None:
    _fleet(fleet_dir, "notify")
    assert fleet_dir.run("up").code == 0
    pid = fleet_dir.status()["a"]["pid"]
    _answer(fleet_dir, 900)
    fleet_dir.run("reconcile")
    assert _events(fleet_dir, "alert") == []
    _answer(fleet_dir, 1200)
    fleet_dir.run("reconcile")
    fleet_dir.run("reconcile")
    [alert] = _events(fleet_dir, "alert")
    assert re.fullmatch(r"context-full: context full in session \S+: 1200 tokens of 1000", alert), alert
    assert fleet_dir.status()["a"]["pid"] == pid


def test_rotate_hands_off_and_starts_a_fresh_session_with_the_handoff(fleet_dir: FleetHarness) -> None:
    _fleet(fleet_dir, "rotate")
    assert fleet_dir.run("up").code == 0
    old = str(wait_for(lambda: fleet_dir.status()["a"]["session"]))
    _answer(fleet_dir, 1500)
    fleet_dir.run("reconcile")
    handoff = fleet_dir.state_dir() / "handoffs" / f"a-{old}.md"
    assert _events(fleet_dir, "context-handoff") == [
        f"context full in session {old}: 1500 tokens of 1000; asked for a handoff in {handoff}"
    ]
    wait_for(lambda: handoff.exists() and handoff.read_text() == "done: parsing\nnext: tests\n", what="the handoff")
    wait_for(
        lambda: fleet_dir.run("reconcile") and _events(fleet_dir, "context-rotated"),
        timeout=20,
        what="the rotation",
        explain=fleet_dir.explain,
    )
    new = fleet_dir.status()["a"]["session"]
    assert new not in (None, old)
    assert _events(fleet_dir, "context-rotated") == [f"context rotated from session {old} to {new}"]
    args = (fleet_dir.dir / "a.args").read_text().splitlines()
    assert len(args) == 2 and "--resume" not in args[1] and f"Read {handoff}:" in args[1], args
    fleet_dir.run("reconcile")
    assert len(_events(fleet_dir, "context-handoff")) == 1  # the fresh session is not full
    assert Path(handoff).read_text().startswith("done:")
