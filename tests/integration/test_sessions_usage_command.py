"""A kind for a client fleetctl has no reader for names a command that prints its usage; status,
report and metrics count what it prints, priced by the kind's table or the command's own cost."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import FleetHarness

pytestmark = pytest.mark.tmux


@pytest.mark.timeout(60)
def test_a_kinds_usage_command_is_counted_by_status_report_and_metrics(fleet_dir: FleetHarness) -> None:
    now = time.time()
    answers = [
        {"time": now + 1, "model": "m-1", "input_tokens": 1000, "output_tokens": 200},
        {"time": now + 2, "model": "m-1", "input_tokens": 3000, "output_tokens": 800},
        {"time": now + 3, "model": "other", "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.5},
    ]
    log = fleet_dir.dir / "bot-usage.jsonl"
    log.write_text("".join(json.dumps(a) + "\n" for a in answers) + "not json\n")
    fleet_dir.write(f"""
    [kinds.bot]
    description = "an in-house agent that logs its own usage"
    session.usage = "command"
    session.usage_command = 'test "$FLEET_AGENT" = helper && cat {log}'
    prices."m-1" = {{ input = 2.0, output = 10.0 }}

    [agents.helper]
    command = "sleep 300"
    kind = "bot"
    min_uptime = "0.2s"
    """)
    assert fleet_dir.run("up").code == 0

    used = fleet_dir.status()["helper"]["usage"]
    assert isinstance(used, dict) and (used["input_tokens"], used["output_tokens"], used["messages"]) == (4010, 1005, 3)
    report = json.loads(fleet_dir.run("report", "--json").out)["usage"]
    total = report["total"]
    assert (total["input_tokens"], total["output_tokens"], total["messages"]) == (4010, 1005, 3)
    assert total["cost_usd"] == pytest.approx((4000 * 2.0 + 1000 * 10.0) / 1e6 + 0.5)
    assert report["agents"]["helper"] == total
    metrics = fleet_dir.run("metrics").out
    label = f'agent="helper",fleet="{fleet_dir.name}"'
    assert f'fleetctl_agent_tokens_total{{{label},type="input"}} 4010.0' in metrics, metrics
    assert f"fleetctl_agent_cost_usd_total{{{label}}} {total['cost_usd']}" in metrics, metrics


@pytest.mark.timeout(30)
def test_a_usage_reader_that_does_not_exist_is_refused(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [kinds.bot]
    session.usage = "stdout"

    [agents.helper]
    command = "sleep 300"
    kind = "bot"
    """)
    result = fleet_dir.run("up")
    assert result.code == 2 and "session.usage" in result.err and '"command"' in result.err, result
    assert "Traceback" not in result.err
