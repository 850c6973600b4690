"""The exit status a run is reported with is its command's own, or said to be unknown: never the
wrapper's status (0 after its linger) and never "code None". Real tmux, real processes."""

from __future__ import annotations

import pytest

from tests.conftest import FleetHarness, wait_for

pytestmark = pytest.mark.tmux


def test_a_shell_syntax_error_is_reported_with_its_code(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [agents.w]
    command = "'"
    replicas = 2
    restart = "never"
    """)
    result = fleet_dir.run("up")
    assert result.code == 1
    lines = result.out.splitlines()[:-1]  # then the summary: "2 failed"
    assert result.out.splitlines()[-1] == "2 failed", result
    assert len(lines) == 2 and all("exited with code 2" in line and "Syntax error" in line for line in lines), result
    rows = fleet_dir.status()
    assert {row["last_exit"] for row in rows.values()} == {"code 2"}, rows


def test_an_end_whose_exit_file_is_gone_is_unknown_not_code_0(fleet_dir: FleetHarness) -> None:
    """The exit file is consumed by whichever pass records the end; a reader that looked at
    the pane after that (status racing the supervisor) has only tmux's pane_dead_status,
    which is the wrapper's (0), not the command's. Here the test removes the file once the
    pane is dead, as that pass would (nothing else runs: no supervisor)."""
    fleet_dir.write("""
    [agents.w]
    command = "sleep 2; exit 2"  # 2 s: verified first, even under load
    min_uptime = "0.2s"
    restart = "never"
    """)
    assert fleet_dir.run("up").code == 0
    runs = fleet_dir.state_dir() / "runs"

    def dead() -> bool:
        panes = fleet_dir.tmux("list-panes", "-a", "-F", "#{window_name} #{pane_dead}").split()
        return "w" in panes and panes[panes.index("w") + 1] == "1" and bool(list(runs.glob("*.exit")))

    wait_for(dead, timeout=10, what="the pane dead with its exit file written")
    for exit_file in runs.glob("*.exit"):
        exit_file.unlink()
    row = fleet_dir.status()["w"]
    assert row["last_exit"] == "unknown", row
    assert "code 0" not in str(row["reason"]) and "exit status unknown" in str(row["reason"]), row


def test_after_an_outside_kill_server_the_exit_is_unknown(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [agents.w]
    command = "sleep 300"
    min_uptime = "0.2s"
    """)
    assert fleet_dir.run("up").code == 0
    fleet_dir.server.cmd("kill-server")
    row = fleet_dir.status()["w"]
    assert "None" not in str(row["reason"]), row
    assert "exit status unknown" in str(row["reason"]) and row["last_exit"] == "unknown", row
    reconciled = fleet_dir.run("reconcile")
    assert "None" not in reconciled.out, reconciled
