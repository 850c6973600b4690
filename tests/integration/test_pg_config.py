"""`[fleet] store` and `host`: a shared PostgreSQL store configured, checked and used from the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import FleetHarness, free_port, wait_for

AGENTS = """
[agents.here]
command = "echo host=$FLEET_HOST; sleep 100"
hosts = ["alpha"]

[agents.there]
command = "sleep 100"
hosts = ["beta"]
"""


@pytest.fixture
def alpha(fleet_dir: FleetHarness, pg_url: str) -> Iterator[FleetHarness]:
    fleet_dir.write(AGENTS, extra_fleet=f'store = "{pg_url}"\nhost = "alpha"')
    yield fleet_dir
    subprocess.run(["tmux", "-L", f"fleetctl-{fleet_dir.name}-alpha", "kill-server"], capture_output=True, check=False)


def one_error_line(result: object, code: int) -> str:
    assert result.code == code and "Traceback" not in result.err, result  # type: ignore[attr-defined]
    return result.err.splitlines()[0]  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://fleet:s3cret@127.0.0.1/fleet", "holds a password: put the password in PGPASSWORD"),
        ("postgresql://fleet@127.0.0.1/fleet?password=s3cret", "holds a password"),
        ("mysql://fleet@127.0.0.1/fleet", "expected a postgresql://user@host:port/database URL"),
        ("postgresql://fleet@127.0.0.1:99999x/fleet", "not a valid URL"),
        ("postgresql://fleet@127.0.0.1:5432", "names no database"),
    ],
)
def test_a_bad_store_in_the_fleet_file_is_one_line_and_exit_2(fleet_dir: FleetHarness, url: str, expected: str) -> None:
    fleet_dir.write('[agents.a]\ncommand = "sleep 100"\n', extra_fleet=f'store = "{url}"')
    line = one_error_line(fleet_dir.run("up"), 2)
    assert "fleet.store" in line and expected in line and "s3cret" not in line, line
    assert fleet_dir.tmux("list-sessions") == ""  # nothing started


def test_an_unreachable_store_is_one_line_exit_1_password_masked_nothing_started(
    fleet_dir: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet_dir.write('[agents.a]\ncommand = "sleep 100"\n', extra_fleet='host = "alpha"')
    monkeypatch.setenv("FLEETCTL_STORE_URL", f"postgresql://fleet:s3cret@127.0.0.1:{free_port()}/fleet")
    result = fleet_dir.run_process("up")
    line = one_error_line(result, 1)
    assert line.startswith("error: cannot connect to the store postgresql://fleet:***@127.0.0.1:"), line
    assert "s3cret" not in result.err + result.out
    socket = f"fleetctl-{fleet_dir.name}-alpha"
    assert subprocess.run(["tmux", "-L", socket, "list-sessions"], capture_output=True).returncode != 0
    monkeypatch.setenv("FLEETCTL_STORE_URL", "nonsense://x")
    assert "$FLEETCTL_STORE_URL" in one_error_line(fleet_dir.run_process("up"), 2)


@pytest.mark.timeout(60)
def test_a_host_runs_its_own_agents_with_fleet_host_on_the_shared_store(alpha: FleetHarness, pg_url: str) -> None:
    up = alpha.run_process("up")
    assert up.code == 0, up
    rows = {r["name"]: r for r in json.loads(alpha.run_process("status", "--json").out)}
    assert set(rows) == {"here"}  # `there` runs on beta only
    socket = f"fleetctl-{alpha.name}-alpha"

    def screen() -> str:
        return subprocess.run(
            ["tmux", "-L", socket, "capture-pane", "-p", "-t", f"={alpha.name}:=here"], capture_output=True, text=True
        ).stdout

    wait_for(
        lambda: "host=alpha" in screen(),
        what="FLEET_HOST in the agent pane",
        explain=lambda: (
            repr(screen())
            + subprocess.run(["tmux", "-L", socket, "list-windows", "-a"], capture_output=True, text=True).stdout
        ),
    )
    added = alpha.run_process("task", "add", "shared work")
    assert added.code == 0, added
    with psycopg.connect(pg_url) as conn:
        titles = [r[0] for r in conn.execute("SELECT title FROM tasks")]
        spawned = conn.execute("SELECT count(*) FROM runs WHERE agent = 'here'").fetchone()
    assert titles == ["shared work"] and spawned == (1,)
    doctor = alpha.run_process("doctor")
    assert f"{pg_url} ok" in doctor.out, doctor


def test_store_migrate_copies_a_sqlite_store_into_postgresql_once(fleet_dir: FleetHarness, pg_url: str) -> None:
    fleet_dir.write('[agents.a]\ncommand = "sleep 100"\n', extra_fleet='host = "alpha"')
    for title in ("first", "second"):
        assert fleet_dir.run("task", "add", title, "--label", "x").code == 0
    assert fleet_dir.run("send", "a", "hello").code == 0
    moved = fleet_dir.run("store", "migrate", "--to", pg_url)
    assert moved.code == 0, moved
    assert "tasks 2" in moved.out and "messages 1" in moved.out and "task_labels 2" in moved.out
    fleet_dir.write('[agents.a]\ncommand = "sleep 100"\n', extra_fleet=f'host = "alpha"\nstore = "{pg_url}"')
    listed = json.loads(fleet_dir.run("task", "list", "--json").out)
    assert [(t["title"], t["labels"]) for t in listed] == [("first", ["x"]), ("second", ["x"])]
    assert fleet_dir.run("task", "add", "third").out.strip() == "3"  # ids go on after the copied ones
    events = [json.loads(line) for line in fleet_dir.run("events", "--json").out.splitlines()]
    assert [e["kind"] for e in events].count("task-added") == 3 and {e["host"] for e in events} == {"alpha"}
    again = fleet_dir.run("store", "migrate", "--to", pg_url)
    assert again.code == 2 and "already holds tasks" in again.err and "nothing was copied" in again.err, again
    assert len(json.loads(fleet_dir.run("task", "list", "--json").out)) == 3


@pytest.mark.timeout(90)
def test_a_wake_sent_on_one_host_is_typed_by_the_other_hosts_supervisor(
    tmp_path: Path, pg_url: str, fleet_dir: FleetHarness
) -> None:
    import time

    body = '[agents.listener]\ncommand = "cat"\nhosts = ["beta"]\n'
    files = {}
    for host in ("alpha", "beta"):
        directory = tmp_path / host
        directory.mkdir()
        files[host] = directory / "fleet.toml"
        files[host].write_text(
            f'[fleet]\nname = "{fleet_dir.name}"\nhost = "{host}"\nstore = "{pg_url}"\nsupervisor = true\n\n{body}'
        )

    def cli(host: str, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "fleetctl", "-c", str(files[host]), *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)

    def screen() -> str:
        argv = [
            "tmux",
            "-L",
            f"fleetctl-{fleet_dir.name}-beta",
            "capture-pane",
            "-p",
            "-t",
            f"={fleet_dir.name}:=listener",
        ]
        return subprocess.run(argv, capture_output=True, text=True).stdout

    try:
        from fleetctl import spec
        from fleetctl.fleet import Fleet
        from fleetctl.runtime.remote_actions import owners

        assert cli("beta", "up").returncode == 0
        # `up` on beta reported what it runs before it returned: alpha knows where the listener
        # is without waiting for beta's supervisor to make its first pass.
        assert owners(Fleet(spec.load(files["alpha"])), ["listener"]) == {"listener": "beta"}
        assert cli("alpha", "up").returncode == 0
        wait_for(
            lambda: json.loads(cli("beta", "status", "--json").stdout)[0]["state"] == "running", what="listener up"
        )
        with psycopg.connect(pg_url) as conn:  # the run is verified: a wake may be typed into it
            wait_for(lambda: conn.execute("SELECT verified FROM runs").fetchone()[0] is not None, what="verified")
        sent = time.monotonic()
        assert cli("alpha", "send", "listener", "ping-from-alpha", "--wake").returncode == 0
        wait_for(lambda: "ping-from-alpha" in screen(), timeout=5, interval=0.02, what="the wake typed on beta")
        took = time.monotonic() - sent
        print(f"wake from alpha typed on beta after {took * 1000:.0f} ms (including the send command's start)")

        # Measured from the send (on alpha, in-process) to the text in beta's pane: within a second.
        from fleetctl.bus import Bus

        alpha = Fleet(spec.load(files["alpha"]))
        delays = []
        for i in range(5):
            text = f"wake-{i}-from-alpha"
            sent = time.monotonic()
            Bus(alpha).send("listener", text, wake=True)
            wait_for(lambda t=text: t in screen(), timeout=5, interval=0.01, what=f"{text} typed on beta")
            delays.append(time.monotonic() - sent)
        alpha.store.close()
        delays.sort()
        print(f"wake from alpha to beta's pane: median {delays[2] * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms")
        assert delays[-1] < 1.0, delays  # every wake is typed on the other host within a second
    finally:
        for host in ("alpha", "beta"):
            subprocess.run(["tmux", "-L", f"fleetctl-{fleet_dir.name}-{host}", "kill-server"], capture_output=True)
