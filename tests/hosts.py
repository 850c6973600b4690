"""Hosts of one fleet run on this machine, sharing a PostgreSQL store: each with its own fleet
file (`host` name), tmux socket and state dir. For the tests of fleets over several hosts."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg

from tests.conftest import pids_with_env


class Host:
    def __init__(self, root: Path, fleet: str, name: str, url: str, body: str, fleet_extra: str = "") -> None:
        self.name, self.fleet = name, fleet
        directory = root / name
        directory.mkdir()
        self.path = directory / "fleet.toml"
        self.path.write_text(
            f'[fleet]\nname = "{fleet}"\nhost = "{name}"\nstore = "{url}"\nsupervisor = true\n{fleet_extra}\n{body}'
        )
        self.socket = f"fleetctl-{fleet}-{name}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "fleetctl", "-c", str(self.path), *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True).stdout

    def agent(self, name: str) -> dict[str, object]:
        rows = json.loads(self.cli("status", "--json").stdout)
        return next(r for r in rows if r["name"] == name)

    def window_pid(self, name: str) -> int | None:
        """The pid of the pane of window `name`, None while there is no such window."""
        for line in self.tmux("list-panes", "-a", "-F", "#{window_name} #{pane_pid}").splitlines():
            window, pid = line.split()
            if window == name:
                return int(pid)
        return None

    def kill9(self) -> None:
        """The host dies: its tmux server, its supervisor and every agent process, at once."""
        server = self.tmux("display-message", "-p", "#{pid}").strip()
        victims = [int(p) for p in self.tmux("list-panes", "-a", "-F", "#{pane_pid}").split()]
        victims += pids_with_env("FLEET_HOST", self.name) + ([int(server)] if server else [])
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def cleaned_up(hosts: list[Host]) -> Iterator[list[Host]]:
    """Yield the hosts, then end their tmux servers and every process of their fleet."""
    yield hosts
    for h in hosts:
        h.tmux("kill-server")
    for pid in pids_with_env("FLEET_NAME", hosts[0].fleet):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def rows(url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """The rows of one query on the hosts' shared store."""
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()
