"""`fleetctl doctor` runs each agent's kind check (a one-shot prompt) with the agent's own env and cwd,
against the real clients and the loopback mock API: a rejected key is `auth`, a limit is `limited
until …`, an answer is `ok`; the exit code says so, and the key is never printed.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pytest

from tests.conftest import FleetHarness
from tests.mockapi import MockAPI, Reply, bad_key, clients, rate_limited, usage_limit

pytestmark = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.timeout(120)]

CLIENTS = ["claude", "codex", "aider"]


def write_fleet(fleet_dir: FleetHarness, name: str, mock: MockAPI, tmp_path: Path, extra: str = "") -> None:
    """One agent of kind `name`: the client's command, env and cwd as its tests run it against the mock."""
    run = clients.prepare(name, mock.url, tmp_path / "home", clients.git_repo(tmp_path / "work"))
    env = ", ".join(f"{key} = {json.dumps(value)}" for key, value in sorted(run.env.items()))
    fleet_dir.write(
        f"""
        [agents.bot]
        command = {json.dumps(shlex.join(run.argv))}
        kind = "{name}"
        cwd = {json.dumps(str(run.cwd))}
        env = {{ {env} }}
        min_uptime = "0.3s"
        """
        + extra
    )


def key_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.split()[1:3] == ["key", "bot"]]
    assert len(lines) == 1, out
    return lines[0]


@pytest.mark.parametrize("name", CLIENTS)
def test_doctor_says_auth_for_a_rejected_key(
    name: str, fleet_dir: FleetHarness, mock_api: MockAPI, tmp_path: Path
) -> None:
    clients.require(name)
    mock_api.script(bad_key(times=1000))
    write_fleet(fleet_dir, name, mock_api, tmp_path)
    r = fleet_dir.run("doctor")
    line = key_line(r.out)
    assert line.startswith("FAIL") and " auth: " in line, r.out
    assert {"claude": "Failed to authenticate", "codex": "401 Unauthorized", "aider": "authenticate"}[name] in line, (
        line
    )
    assert r.code == 1
    assert clients.FAKE_KEY not in r.out + r.err
    assert mock_api.model_requests, "the check never reached the mock"


@pytest.mark.parametrize("name", CLIENTS)
def test_doctor_says_ok_when_the_client_answers(
    name: str, fleet_dir: FleetHarness, mock_api: MockAPI, tmp_path: Path
) -> None:
    clients.require(name)
    mock_api.script(then=Reply(text="ok"))
    write_fleet(fleet_dir, name, mock_api, tmp_path)
    skipped = fleet_dir.run("doctor", "--no-agent-checks")
    assert skipped.code == 0 and " key " not in skipped.out, skipped.out
    assert not mock_api.model_requests, "--no-agent-checks spent a request"

    r = fleet_dir.run("doctor")
    line = key_line(r.out)
    assert line.startswith("ok") and "ok: answered in" in line, r.out
    assert r.code == 0, r.out
    assert mock_api.saw("Reply with the single word: ok")
    # The check leaves nothing in the agent's directory (aider's history files, a .gitignore edit);
    # the booted interactive client may write its own files there, but none knows the check's prompt.
    work = tmp_path / "work"
    assert not (work / ".gitignore").exists()
    assert not [p.name for p in work.iterdir() if p.is_file() and "single word" in p.read_text(errors="replace")]


def in_3h() -> str:
    return time.strftime("%Y-%m-%d at %H:%M", time.gmtime(time.time() + 3 * 3600))


# claude names a date and a UTC time; codex a clock time for a usage limit; aider retries a 429 for
# minutes, printing its "Please try again in" line at once: a shorter check timeout (set in fleet.toml)
# still reads it.
LIMITS = {
    "claude": (lambda: usage_limit(f"You will regain access on {in_3h()} UTC.", times=1000), ""),
    "codex": (
        lambda: usage_limit("You've hit your usage limit.", times=1000, resets_at=int(time.time()) + 3 * 3600),
        "",
    ),
    "aider": (
        lambda: rate_limited("Please try again in 20m.", times=1000),
        "\n[kinds.aider]\ncheck.timeout = 25\n",
    ),
}


@pytest.mark.parametrize("name", CLIENTS)
def test_doctor_says_limited_until_the_reset_time(
    name: str, fleet_dir: FleetHarness, mock_api: MockAPI, tmp_path: Path
) -> None:
    clients.require(name)
    behaviour, extra = LIMITS[name]
    mock_api.script(behaviour())
    write_fleet(fleet_dir, name, mock_api, tmp_path, extra)
    started = time.time()
    r = fleet_dir.run("doctor", "--json")
    assert r.code == 1, r.out
    checks = {c["check"]: c for c in json.loads(r.out)}
    check = checks["key bot"]
    assert not check["ok"] and check["detail"].startswith("limited until "), check
    expected = {"claude": 3 * 3600, "codex": 3 * 3600, "aider": 20 * 60}[name]
    shown = check["detail"].removeprefix("limited until ").split(": ", 1)[0]
    reset = time.mktime(time.strptime(shown.rsplit(" ", 1)[0], "%Y-%m-%d %H:%M"))
    assert abs(reset - (started + expected)) < 5 * 60, (shown, check)
    assert abs(check["reset_at"] - (started + expected)) < 5 * 60, check
    assert time.time() - started < 60


def test_replicas_share_one_check_and_a_pool_is_checked_without_its_task(
    fleet_dir: FleetHarness, mock_api: MockAPI, tmp_path: Path
) -> None:
    clients.require("codex")
    mock_api.script(bad_key(times=1000))
    run = clients.prepare("codex", mock_api.url, tmp_path / "home", clients.git_repo(tmp_path / "work"))
    env = ", ".join(f"{key} = {json.dumps(value)}" for key, value in sorted(run.env.items()))
    command = shlex.join(run.argv)
    fleet_dir.write(f"""
    [agents.bot]
    command = {json.dumps(command)}
    kind = "codex"
    replicas = 2
    cwd = {json.dumps(str(run.cwd))}
    env = {{ {env} }}
    min_uptime = "0.3s"

    [pools.fix]
    command = {json.dumps(command + " exec --full-auto {task_file}")}
    kind = "codex"
    cwd = {json.dumps(str(run.cwd))}
    env = {{ {env} }}
    """)
    r = fleet_dir.run("doctor", "--json")
    assert r.code == 1, r.out
    checks = {c["check"]: c for c in json.loads(r.out)}
    first, second, pool = checks["key bot-1"], checks["key bot-2"], checks["key pool fix"]
    assert first["detail"].startswith("auth: ") and "401 Unauthorized" in first["detail"], first
    assert second["detail"] == first["detail"] + " (the check of bot-1, whose command, cwd and env are the same)"
    # The pool's command less its task is the agents' check line: the three share one run.
    assert pool["detail"] == second["detail"], pool
    assert mock_api.saw("Reply with the single word: ok")
    assert not any("task_file" in r.text() for r in mock_api.model_requests)
