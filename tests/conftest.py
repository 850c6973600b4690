"""Shared fixtures: every test gets its own HOME, its own tmux socket dir and fleet name.

No test ever talks to a person's tmux server: TMUX_TMPDIR points into a fresh temp dir, and
each tmux server comes from libtmux's pytest plugin (`TestServer`, `server`), which kills it
after the test and removes its socket file. Fleets use `tmux -L fleetctl-<unique name>`;
teardown also kills every process that carries the test fleet's FLEET_NAME (and only those).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from libtmux.server import Server

from fleetctl.tmux import TmuxGateway
from tests.pg import pg_cluster, pg_url  # noqa: F401  (fixtures for the PostgreSQL store tests)

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def wait_for(
    condition: Callable[[], object],
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str = "",
    explain: Callable[[], str] | None = None,
) -> object:
    """Poll until condition() is truthy; fail the test with `what` (and `explain()`) at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{explain()}" if explain else ""
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}{detail}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(n: int) -> int:
    """A base port with n free consecutive ports after it."""
    for _ in range(200):
        base = free_port()
        if base + n >= 65000:
            continue
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def pids_with_env(key: str, value: str) -> list[int]:
    needle = f"{key}={value}".encode()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in env and state != b"Z":
            out.append(int(entry))
    return out


def alive(pid: int) -> bool:
    """Is pid a running process? A zombie (dead, not yet reaped) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return False


@dataclass
class CliResult:
    code: int
    out: str
    err: str


class FleetHarness:
    """A fleet file in a temp dir, a CLI runner for it, and the fleet's private tmux server."""

    def __init__(self, directory: Path, name: str, server: Server) -> None:
        self.dir = directory
        self.name = name
        self.path = directory / "fleet.toml"
        self.server = server  # the fleet's private server (socket fleetctl-<name>), through libtmux

    def write(self, body: str, *, supervisor: bool = False, extra_fleet: str = "") -> Path:
        header = f'[fleet]\nname = "{self.name}"\nsupervisor = {"true" if supervisor else "false"}\n{extra_fleet}\n'
        self.path.write_text(header + textwrap.dedent(body))
        return self.path

    def run(self, *args: str) -> CliResult:
        """The CLI in-process, as a person would type it (with -c this fleet)."""
        from fleetctl.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["-c", str(self.path), *args])
        return CliResult(code, out.getvalue(), err.getvalue())

    def run_process(self, *args: str, timeout: float = 60) -> CliResult:
        """The CLI as a separate process (for concurrency and exec tests)."""
        argv = [sys.executable, "-m", "fleetctl", "-c", str(self.path), *args]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    def fleet(self, **kwargs: object):  # type: ignore[no-untyped-def]
        from fleetctl import spec
        from fleetctl.fleet import Fleet

        return Fleet(spec.load(self.path), **kwargs)  # type: ignore[arg-type]

    def status(self) -> dict[str, dict[str, object]]:
        import json

        result = self.run("status", "--json")
        return {row["name"]: row for row in json.loads(result.out)}

    def tmux(self, *args: str) -> str:
        """What a tmux command prints on the fleet's server (empty if it fails)."""
        return "".join(line + "\n" for line in self.server.cmd(*args).stdout)

    def processes(self) -> list[int]:
        """Every live process started in this fleet's tmux server (tmux marks each with TMUX=<socket>,...)."""
        marker = f"/fleetctl-{self.name},".encode()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or not alive(int(entry)):
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            if any(item.startswith(b"TMUX=") and marker in item for item in env) or self._writes_state(entry):
                found.append(int(entry))
        return found

    def _writes_state(self, pid: str) -> bool:
        """A log pipe (`cat >> <state_dir>/logs/...`) has an fd open in the state dir."""
        state = str(self.state_dir())
        if int(pid) == os.getpid():  # the test itself holds the state db open
            return False
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            return False
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(state):
                    return True
            except OSError:
                continue
        return False

    def state_dir(self) -> Path:
        return self.dir / ".fleet"

    def explain(self) -> str:
        """What the fleet looked like, for a failing wait: windows, the supervisor's screen, recent events."""
        from fleetctl.cli.render import event_line

        events = "\n".join(event_line(e) for e in self.fleet().store.events()[-15:])
        panes = self.tmux("list-panes", "-a", "-F", "#{window_name} #{pane_pid} dead=#{pane_dead}")
        supervisor = self.tmux("capture-pane", "-p", "-S", "-30", "-t", "=_supervisor")
        return f"panes:\n{panes}\nsupervisor:\n{supervisor}\nevents:\n{events}"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    home = tmp_path / "home"
    home.mkdir()
    sockets = Path(tempfile.mkdtemp(prefix="flt-", dir="/tmp"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMUX_TMPDIR", str(sockets))
    monkeypatch.setenv("SHELL", "/bin/sh")
    for var in ("TMUX", "TMUX_PANE", "FLEETCTL_CONFIG", "FLEETCTL_STORE_URL", "FLEET_AGENT", "FLEET_RUN", "FLEET_NAME"):
        monkeypatch.delenv(var, raising=False)
    yield
    shutil.rmtree(sockets, ignore_errors=True)


@pytest.fixture
def fleet_dir(tmp_path: Path, TestServer: type[Server]) -> Iterator[FleetHarness]:
    """A fleet with a unique name whose server is libtmux's TestServer: killed after the test,
    its socket file removed (by the plugin), and every process it started killed (here)."""
    name = f"t{uuid.uuid4().hex[:10]}"
    directory = tmp_path / "fleet"
    directory.mkdir()
    harness = FleetHarness(directory, name, TestServer(socket_name=f"fleetctl-{name}"))
    yield harness
    harness.server.cmd("kill-server")  # before the sweep: nothing respawns what it kills
    from fleetctl import cgroups

    for _ in range(3):
        pids = pids_with_env("FLEET_NAME", name) + harness.processes() + list(cgroups.pids(harness.state_dir()))
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    cgroups.remove(harness.state_dir())  # the fleet's cgroup, when the test did not end with `down`


@pytest.fixture
def gateway(server: Server, tmp_path: Path) -> TmuxGateway:
    """A TmuxGateway on the libtmux plugin's throwaway server, its session (no wake fifo) open."""
    assert server.socket_name is not None
    tmux = TmuxGateway(server.socket_name, "gw")
    tmux.ensure_session(str(tmp_path), None)
    return tmux


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The chaos suite's trial counts (tests/chaos): they travel in each report's
    user_properties, so they print under xdist too."""
    lines = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for key, value in getattr(report, "user_properties", ()):
                if key == "chaos":
                    lines.append(f"{report.nodeid}: {value}")
    if lines:
        terminalreporter.section("chaos trials")
        for line in sorted(lines):
            terminalreporter.write_line(line)
