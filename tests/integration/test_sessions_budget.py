"""Budgets: a run past its token budget is stopped (and started again, resumed); an agent past its
daily cost is parked until midnight UTC. One alert each. Real tmux, real processes; the stand-in
client of test_sessions_resume, whose transcript the test writes answers into."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for
from tests.integration.test_sessions_resume import CLIENT

pytestmark = pytest.mark.tmux


def _fleet(fleet_dir: FleetHarness, budget: str) -> None:
    client = fleet_dir.dir / "chat.sh"
    client.write_text(CLIENT)
    client.chmod(0o755)
    fleet_dir.write(f"""
    [kinds.chat]
    base = "claude"
    prices."m-1" = {{ input = 100.0, output = 100.0 }}

    [agents.a]
    command = "{client}"
    kind = "chat"
    min_uptime = "0.2s"
    backoff = "0.1s"
    {budget}
    """)


def _answer(fleet_dir: FleetHarness, tokens: int) -> Path:
    """Append one assistant message using `tokens` input tokens to the agent's transcript."""
    folder = fleet_dir.state_dir() / "sessions" / "a" / "projects"
    [transcript] = wait_for(lambda: list(folder.glob("*/*.jsonl")), what="the transcript")
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    message = {
        "id": f"msg-{time.monotonic_ns()}",
        "model": "m-1",
        "usage": {"input_tokens": tokens, "output_tokens": 0},
    }
    with open(transcript, "a") as f:
        f.write(json.dumps({"type": "assistant", "timestamp": stamp, "message": message}) + "\n")
    return transcript


def _alerts(fleet_dir: FleetHarness) -> list[str]:
    return [e.reason for e in fleet_dir.fleet().store.events() if e.kind == "alert"]


def test_a_run_past_its_token_budget_is_stopped_and_resumed(fleet_dir: FleetHarness) -> None:
    _fleet(fleet_dir, "max_tokens_per_run = 1000")
    assert fleet_dir.run("up").code == 0
    first = fleet_dir.status()["a"]["pid"]
    _answer(fleet_dir, 400)
    fleet_dir.run("reconcile")
    assert fleet_dir.status()["a"]["pid"] == first  # within budget: left alone
    _answer(fleet_dir, 700)
    fleet_dir.run("reconcile")
    assert _alerts(fleet_dir) == ["budget: this run used 1100 tokens, over max_tokens_per_run 1000"]
    wait_for(lambda: fleet_dir.run("reconcile") and fleet_dir.status()["a"]["pid"] not in (None, first), what="respawn")
    args = (fleet_dir.dir / "a.args").read_text().splitlines()
    assert args[-1].startswith("--resume "), args  # the same conversation goes on
    fleet_dir.run("reconcile")
    assert len(_alerts(fleet_dir)) == 1  # the new run has used nothing yet


def test_an_agent_past_its_daily_cost_is_parked_until_midnight(fleet_dir: FleetHarness) -> None:
    _fleet(fleet_dir, "max_cost_per_day = 0.05")
    assert fleet_dir.run("up").code == 0
    _answer(fleet_dir, 600)  # $0.06 at $100 per million
    fleet_dir.run("reconcile")
    row = fleet_dir.status()["a"]
    assert row["state"] == "parked" and row["pid"] is None, row
    midnight = (time.time() // 86400 + 1) * 86400
    assert abs(time.time() + float(str(row["next_retry_s"])) - midnight) < 5, row
    assert _alerts(fleet_dir) == ["budget: spent $0.0600 today, over max_cost_per_day $0.05; parked until midnight UTC"]
    fleet_dir.run("reconcile")
    assert len(_alerts(fleet_dir)) == 1
