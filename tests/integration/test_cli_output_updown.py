"""`up`, `down` and `restart` say what they did: one line per agent that changed, a summary,
`-v` for the agents left alone, `-q` for silence and `--json` for scripts."""

from __future__ import annotations

import json
import re

from tests.conftest import FleetHarness

THREE = """
[defaults]
min_uptime = "0.2s"
[agents.a]
command = "sleep 1000"
[agents.b]
command = "sleep 1000"
[agents.c]
command = "sleep 1000"
"""


def test_up_lists_what_it_started_and_is_silent_about_what_already_ran(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(THREE)
    first = fleet_dir.run("up", "a")
    assert first.code == 0, first
    assert re.fullmatch(r"a: started \(pid \d+\)\n1 started\n", first.out), first.out
    second = fleet_dir.run("up")
    assert second.code == 0, second
    lines = second.out.splitlines()
    assert [line.split(" (")[0] for line in lines] == ["b: started", "c: started", "2 started, 1 already running"]
    assert "verified" not in second.out and "a:" not in second.out
    verbose = fleet_dir.run("up", "-v")
    assert verbose.out.splitlines() == [
        f"{name}: already running (pid {fleet_dir.status()[name]['pid']})" for name in "abc"
    ] + ["3 already running"]
    assert fleet_dir.run("up", "-q").out == ""
    rows = json.loads(fleet_dir.run("up", "--json").out)
    assert [(r["agent"], r["action"]) for r in rows] == [(n, "already running") for n in "abc"]
    assert all(r["detail"].startswith("pid ") for r in rows)


def test_down_lists_what_it_stopped(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(THREE)
    assert fleet_dir.run("up").code == 0
    one = fleet_dir.run("down", "a")
    assert one.code == 0, one
    assert one.out.splitlines() == ["a: stopped", "1 stopped"]
    rows = json.loads(fleet_dir.run("down", "--json").out)
    assert rows == [
        {"agent": "a", "action": "already stopped", "detail": ""},
        {"agent": "b", "action": "stopped", "detail": ""},
        {"agent": "c", "action": "stopped", "detail": ""},
    ]
    again = fleet_dir.run("down")
    assert again.out.splitlines() == ["3 already stopped"]
    assert fleet_dir.run("down", "-v").out.splitlines() == [f"{n}: already stopped" for n in "abc"] + [
        "3 already stopped"
    ]
    assert fleet_dir.run("up", "-q").out == "" and fleet_dir.run("down", "-q").out == ""
    assert {row["state"] for row in fleet_dir.status().values()} == {"stopped"}


def test_a_failed_start_is_one_line_with_the_output_as_the_screen_showed_it(fleet_dir: FleetHarness) -> None:
    script = fleet_dir.dir / "fail.sh"
    script.write_text("printf 'working |\\rworking /\\rworking done\\r\\n\\033[31merror:\\033[0m boom\\r\\n'\nexit 1\n")
    fleet_dir.write(f"""
    [agents.ok]
    command = "sleep 1000"
    min_uptime = "0.2s"
    [agents.bad]
    command = "sh {script}"
    restart = "never"
    min_uptime = "1s"
    """)
    result = fleet_dir.run("up")
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0].startswith("bad: exited with code 1") and lines[0].endswith(
        "last output: working done | error: boom"
    )
    assert lines[1].startswith("ok: started (pid ")
    assert lines[2] == "1 started, 1 failed"
    quiet = fleet_dir.run("up", "-q")
    assert quiet.code == 1
    assert [line.split(" after")[0] for line in quiet.out.splitlines()] == [
        "bad: exited with code 1"
    ]  # only the failure


def test_status_after_down_still_shows_a_failed_agent_as_failed(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [agents.quick]
    command = "echo bye; exit 3"
    restart = "never"
    min_uptime = "1s"
    [agents.ok]
    command = "sleep 1000"
    min_uptime = "0.2s"
    """)
    assert fleet_dir.run("up").code == 1
    assert fleet_dir.status()["quick"]["state"] == "failed"
    assert fleet_dir.run("down").code == 0
    states = {name: row["state"] for name, row in fleet_dir.status().items()}
    assert states == {"quick": "failed", "ok": "stopped"}
    refused = fleet_dir.run("up", "quick")
    assert refused.code == 1 and "fleetctl reset quick" in refused.out  # up agrees: still failed
    assert fleet_dir.run("reset", "quick").code == 0
    assert fleet_dir.run("down", "quick").code == 0
    assert fleet_dir.status()["quick"]["state"] == "stopped"  # reset is what clears it


def test_restart_lists_what_it_restarted(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(THREE)
    assert fleet_dir.run("up", "a").code == 0
    result = fleet_dir.run("restart", "a", "b")
    assert result.code == 0, result
    assert [line.split(" (")[0] for line in result.out.splitlines()] == [
        "a: restarted",
        "b: started",
        "1 started, 1 restarted",
    ]
    rows = json.loads(fleet_dir.run("restart", "--json", "a").out)
    assert [(r["agent"], r["action"]) for r in rows] == [("a", "restarted")]


def test_up_says_it_started_the_supervise_loop(fleet_dir: FleetHarness) -> None:
    fleet_dir.write('[agents.a]\ncommand = "sleep 1000"\nmin_uptime = "0.2s"\n', supervisor=True)
    result = fleet_dir.run("up")
    assert result.code == 0, result
    assert result.out.splitlines()[-1] == "1 started, supervise loop started"


def test_restart_quotes_the_output_as_the_screen_showed_it(fleet_dir: FleetHarness) -> None:
    broken = fleet_dir.dir / "broken"
    script = fleet_dir.dir / "agent.sh"
    script.write_text(
        f"[ -e {broken} ] || exec sleep 1000\n"
        "printf '\\033[?25l\\033[>4;2m\\033[<u'\n"
        "for f in '|' / - '\\\\' '|' /; do printf '\\r\\033[36m%s\\033[0m thinking' \"$f\"; done\n"
        "printf '\\r\\033[2Kthought for 2s\\r\\n\\033[1;31merror:\\033[0m the key was rejected\\r\\n'\n"
        "exit 1\n"
    )
    fleet_dir.write(f"""
    [agents.coder]
    command = "sh {script}"
    restart = "never"
    min_uptime = "1s"
    """)
    assert fleet_dir.run("up").code == 0
    broken.touch()
    result = fleet_dir.run("restart", "coder")
    assert result.code == 1, result
    lines = result.out.splitlines()
    assert lines[1:] == ["1 failed"], result.out
    assert re.fullmatch(
        r"coder: exited with code 1 after [\d.]+s, before it was verified \(min_uptime 1s\).*"
        r"; last output: thought for 2s \| error: the key was rejected",
        lines[0],
    ), lines[0]
    for junk in ("\x1b", "\\x1b", "\r", "thinking", "[>4", "[<u", "[36m"):
        assert junk not in result.out, (junk, result.out)
    raw = fleet_dir.run("logs", "--raw", "coder").out
    assert "\x1b[36m|\x1b[0m thinking\r" in raw and "\x1b[>4;2m" in raw  # what the agent really wrote
