"""Actions on an agent of another host: two hosts of one fleet on one machine, sharing a
PostgreSQL store. `restart` and `down` on alpha for an agent that beta runs are carried out
by beta's supervisor and their result printed on alpha; when beta stops reporting, they
fail at once with one line."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import alive, wait_for
from tests.hosts import Host, cleaned_up

pytestmark = [pytest.mark.tmux]

HOSTS = ("alpha", "beta")
BODY = (
    '[agents.here]\ncommand = "sleep 300"\nhosts = ["alpha"]\n\n'
    '[agents.there]\ncommand = "sleep 300"\nhosts = ["beta"]\nmin_uptime = "0.2s"\n'
)


@pytest.fixture
def hosts(tmp_path: Path, pg_url: str) -> Iterator[list[Host]]:
    fleet = f"t{uuid.uuid4().hex[:8]}"
    yield from cleaned_up([Host(tmp_path, fleet, h, pg_url, BODY, fleet_extra='heartbeat = "1s"\n') for h in HOSTS])


def running_pid(host: Host, name: str) -> int | None:
    row = host.agent(name)
    return int(str(row["pid"])) if row["state"] == "running" and row["pid"] else None


@pytest.mark.timeout(120)
def test_restart_and_down_of_an_agent_on_another_host_are_carried_out_there(hosts: list[Host]) -> None:
    alpha, beta = hosts
    for h in hosts:
        up = h.cli("up")
        assert up.returncode == 0, up.stderr
    before = wait_for(lambda: running_pid(beta, "there"), what="there running on beta")

    def alpha_sees_there() -> bool:
        rows = json.loads(alpha.cli("status", "--all", "--json").stdout)
        return any(r["name"] == "there" and r["host"] == "beta" and r["state"] == "running" for r in rows)

    wait_for(alpha_sees_there, timeout=20, what="beta's report of there on alpha")

    fresh = alpha.cli("restart", "there", "--fresh")  # a new conversation is that host's to start
    assert fresh.returncode == 2 and fresh.stderr.splitlines() == [
        "error: --fresh: there runs on host beta; run `fleetctl restart there --fresh` there"
    ], fresh
    assert running_pid(beta, "there") == before

    restarted = alpha.cli("restart", "there")
    assert restarted.returncode == 0, restarted
    assert restarted.stdout.startswith("there: restarted on beta (pid "), restarted
    after = running_pid(beta, "there")
    assert after is not None and after != before and alive(after) and not alive(int(str(before)))
    assert f"(pid {after}" in restarted.stdout
    assert running_pid(alpha, "here") is not None  # alpha's own agent was left alone

    stopped = alpha.cli("down", "there")
    assert stopped.returncode == 0, stopped
    assert stopped.stdout.strip() == "there: stopped on beta", stopped
    shown = beta.agent("there")
    assert shown["state"] == "stopped" and not alive(after), [
        (e["kind"], e["agent"], e["host"], e["reason"][:60])
        for e in map(json.loads, beta.cli("events", "--json").stdout.splitlines())
    ]
    assert running_pid(alpha, "here") is not None
    events = [json.loads(line) for line in alpha.cli("events", "--host", "beta", "--json").stdout.splitlines()]
    assert [e["kind"] for e in events if e["kind"].startswith("remote-")] == ["remote-restart", "remote-stop"]

    # report --host: one host's runs and events, from any host.
    of_beta = json.loads(alpha.cli("report", "--host", "beta", "--json").stdout)
    runs = {a["name"]: a["runs_started"] for a in of_beta["agents"]}
    assert (runs.get("there") or 0) >= 2 and "here" not in runs, of_beta["agents"]  # started, then restarted
    of_alpha = json.loads(alpha.cli("report", "--host", "alpha", "--json").stdout)
    assert "here" in {a["name"] for a in of_alpha["agents"]} - {"there"}, of_alpha["agents"]
    assert "there" not in {a["name"] for a in of_alpha["agents"]}

    # beta dies (its supervisor and tmux server): once its heartbeat is stale, alpha refuses at once.
    beta.kill9()

    def beta_unreachable() -> bool:
        rows = json.loads(alpha.cli("status", "--all", "--json").stdout)
        return any(r.get("kind") == "host" and r["host"] == "beta" and r["state"] == "unreachable" for r in rows)

    wait_for(beta_unreachable, timeout=20, interval=0.5, what="beta marked unreachable")
    started = time.monotonic()
    refused = alpha.cli("restart", "there")
    assert time.monotonic() - started < 10  # at once, not after the request's timeout
    assert refused.returncode == 1, refused
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: there runs on host beta, which is unreachable (last report")
    assert lines[0].endswith("ago); nothing was restarted"), lines
    assert refused.stdout == ""
