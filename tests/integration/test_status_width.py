"""`status` fits the terminal: no wrapped line, no lost column, the reason cut with `…`; the whole
reason is in `status NAME` (which tells one agent's whole story) and in `--json`."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import FleetHarness, free_port

HEADERS = ["NAME", "STATE", "PID", "PORT", "UPTIME", "RESPAWNS", "LAST EXIT", "OUTPUT", "REASON"]


def long_reasons(fleet_dir: FleetHarness) -> None:
    script = fleet_dir.dir / "fail.sh"
    script.write_text(
        "printf 'spin |\\rspin /\\rspin -\\r\\033[31mfatal:\\033[0m the configuration is wrong\\r\\n'\nexit 7\n"
    )
    fleet_dir.write(f"""
    [defaults]
    min_uptime = "1s"
    restart = "never"
    [agents.a-long-name]
    command = "sh {script}"
    [agents.b]
    command = "sh {script}"
    [agents.web]
    command = "sleep 1000"
    port = {free_port()}
    start_timeout = "1s"
    min_uptime = "0.2s"
    """)
    assert fleet_dir.run("up").code == 1


def test_status_fits_80_columns_with_long_reasons(fleet_dir: FleetHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    long_reasons(fleet_dir)
    full = {row["name"]: row["reason"] for row in json.loads(fleet_dir.run("status", "--json").out)}
    assert all(len(reason) > 40 for reason in full.values()), full  # long enough to need cutting
    monkeypatch.setenv("COLUMNS", "80")
    result = fleet_dir.run("status")
    lines = result.out.splitlines()
    assert len(lines) == 4, result.out  # a header and one line per agent: nothing wrapped
    assert all(len(line) <= 80 for line in lines), "\n".join(f"{len(line)}: {line}" for line in lines)
    assert lines[0].split() == [
        "NAME",
        "STATE",
        "PID",
        "PORT",
        "UPTIME",
        "RESPAWNS",
        "LAST",
        "EXIT",
        "OUTPUT",
        "REASON",
    ]
    reason_at = lines[0].index("REASON")
    for line in lines[1:]:
        name = line.split()[0]
        assert name in full  # names are kept whole
        shown = line[reason_at:]
        assert shown.endswith("…") and full[name].startswith(shown[:-1]), (shown, full[name])
    monkeypatch.setenv("COLUMNS", "300")
    wide = fleet_dir.run("status")
    assert all(full[line.split()[0]] in line for line in wide.out.splitlines()[1:])  # room enough: nothing cut


def test_status_name_tells_the_whole_story(fleet_dir: FleetHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    long_reasons(fleet_dir)
    monkeypatch.setenv("COLUMNS", "80")
    result = fleet_dir.run("status", "b")
    assert result.code == 1  # failed, as in the table
    reason = json.loads(fleet_dir.run("status", "--json", "b").out)[0]["reason"]
    text = result.out
    assert text.splitlines()[0] == "b"
    assert "  state:      failed\n" in text
    assert f"  reason:     {reason}\n" in text  # in full, even past 80 columns
    assert "  respawns:   0/5 used in 10m00s\n" in text
    assert "  last exit:  code 7\n" in text
    assert "  processes:  -\n" in text
    assert re.search(r"  last output( \(\d+s ago\))?:\n    fatal: the configuration is wrong\n$", text), text
    assert "spin" not in text and "\\x1b" not in text  # the screen's last frame, not the bytes


def test_status_name_of_a_running_agent_lists_its_processes(fleet_dir: FleetHarness) -> None:
    port = free_port()
    fleet_dir.write(f"""
    [agents.web]
    command = "echo serving; python3 -m http.server {port} --bind 127.0.0.1"
    port = {port}
    min_uptime = "0.2s"
    """)
    assert fleet_dir.run("up").code == 0
    pid = fleet_dir.status()["web"]["pid"]
    text = fleet_dir.run("status", "web").out
    assert "  state:      running\n" in text
    assert f"  port:       {port}\n" in text
    processes = re.search(r"  processes:  ([\d ]+)\n", text)
    assert processes is not None, text
    pids = [int(p) for p in processes.group(1).split()]
    assert pids[0] == pid and len(pids) >= 2  # the window's shell and the server it started
    assert "    serving" in text.split("last output")[1]


def agent_windows(fleet_dir: FleetHarness) -> dict[str, str]:
    """The fleet's tmux windows as tmux itself lists them: window name -> window id."""
    listed = fleet_dir.tmux("list-windows", "-a", "-F", "#{window_name} #{window_id}").splitlines()
    return {name: window for name, _, window in (line.partition(" ") for line in listed)}


def window_line(text: str) -> str:
    found = re.search(r"^  window:     (\S+)$", text, re.MULTILINE)
    assert found is not None, text
    return found.group(1)


def test_status_name_shows_the_agents_tmux_window(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [agents.web]
    command = "sleep 1000"
    min_uptime = "0.2s"
    [agents.api]
    command = "sleep 1000"
    min_uptime = "0.2s"
    """)
    assert fleet_dir.run("up").code == 0
    windows = agent_windows(fleet_dir)
    assert window_line(fleet_dir.run("status", "web").out) == windows["web"]
    assert window_line(fleet_dir.run("status", "api").out) == windows["api"] != windows["web"]
    assert fleet_dir.run("restart", "web").code == 0
    now = agent_windows(fleet_dir)["web"]
    assert now != windows["web"]  # a new window for the new run: status follows it
    assert window_line(fleet_dir.run("status", "web").out) == now
    assert fleet_dir.run("down", "web").code == 0
    assert "web" not in agent_windows(fleet_dir)
    assert window_line(fleet_dir.run("status", "web").out) == "-"
