"""The doctor's kind check as a person configures it for an in-house client: a kind from fleet.toml
with its own check, the agent's env and cwd, secrets masked in what is quoted, and a client that
never answers stopped at the timeout with nothing of it left running."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, pids_with_env

pytestmark = pytest.mark.tmux

# Interactive without --check (doctor boots it so); with --check it answers as its argument says.
BOT = """
import os, pathlib, sys, time
if "--check" not in sys.argv:
    time.sleep(3600)
mode = pathlib.Path("mode").read_text().strip()
print("bot 1.0 in", os.getcwd(), "with", os.environ["FLEET_AGENT"], flush=True)
if mode == "auth":
    print("Error: token rejected:", os.environ["BOT_API_TOKEN"], flush=True)
    sys.exit(1)
if mode == "hang":
    print("waiting for the server", flush=True)
    time.sleep(3600)
print("ok")
"""
TOKEN = "tok-5e5e5e5e5e5e-secret"


def write(fleet_dir: FleetHarness, tmp_path: Path, mode: str, timeout: str = "30") -> Path:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    (work / "mode").write_text(mode)
    script = tmp_path / "bot.py"
    script.write_text(BOT)
    fleet_dir.write(f"""
    [kinds.bot]
    description = "our in-house agent"
    failures.auth = ['token rejected']
    check.args = ["--check"]
    check.timeout = {timeout}
    check.env = {{ BOT_CHECK_MARK = "doctor-check-{fleet_dir.name}" }}

    [agents.helper]
    command = "{sys.executable} {script}"
    kind = "bot"
    cwd = "{work}"
    env = {{ BOT_API_TOKEN = "{TOKEN}" }}
    min_uptime = "0.2s"

    [agents.plain]
    command = "sleep 30"
    min_uptime = "0.2s"
    """)
    return work


def key_checks(out: str) -> dict[str, dict[str, object]]:
    return {c["check"]: c for c in json.loads(out) if str(c["check"]).startswith("key ")}


def test_a_fleet_toml_kind_is_checked_with_the_agents_env_and_cwd(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    write(fleet_dir, tmp_path, "ok")
    r = fleet_dir.run("doctor", "--json")
    assert r.code == 0, r.out
    assert list(key_checks(r.out)) == ["key helper"], r.out  # a generic agent has no check
    assert key_checks(r.out)["key helper"]["detail"].startswith("ok: answered in ")  # type: ignore[union-attr]


def test_a_rejected_token_is_auth_and_the_token_is_masked(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    write(fleet_dir, tmp_path, "auth")
    r = fleet_dir.run("doctor")
    assert r.code == 1, r.out
    (line,) = [line for line in r.out.splitlines() if " key helper " in line]
    assert line.split(None, 3)[3] == "auth: Error: token rejected: ***", line
    assert TOKEN not in r.out + r.err


def test_a_check_that_never_answers_is_stopped_at_its_timeout(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    write(fleet_dir, tmp_path, "hang", timeout="1")
    started = time.monotonic()
    r = fleet_dir.run("doctor", "helper", "--json")
    assert time.monotonic() - started < 20
    assert r.code == 1, r.out
    detail = key_checks(r.out)["key helper"]["detail"]
    assert detail == "check failed: no answer within 1s: waiting for the server", detail
    assert not pids_with_env("BOT_CHECK_MARK", f"doctor-check-{fleet_dir.name}")
