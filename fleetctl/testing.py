"""Fakes for testing code that runs a fleet: a clock, a tmux server and a process table.

Public (as libtmux ships libtmux.test), so the runtime's unit tests, and any other, can run
`Fleet` without tmux, without processes and without waiting:

    clock = FakeClock()
    procs = FakeProcessGateway(clock)
    tmux = FakeTmuxGateway(procs, clock)
    fleet = Fleet(spec, tmux=tmux, procs=procs, clock=clock)

A fake process ends on SIGTERM unless it was started to ignore it (`ignore_term`), and
always on SIGKILL; a window whose process ended stays, dead, with its exit status (tmux's
remain-on-exit). Nothing here sleeps: FakeClock.sleep moves the fake time forward.
"""

from __future__ import annotations

import signal as signals
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from fleetctl.logview import END_MARKER
from fleetctl.model import PaneInfo, ProcInfo
from fleetctl.procs import ProcTable
from fleetctl.record import field, record
from fleetctl.tmux import HOME_WINDOW, OpenedWindow, OpenedWindows, WindowRequest

FIRST_FAKE_PID = 5_000_000  # above Linux's default pid_max: never the test's own pid


class FakeClock:
    """A clock that moves only when told to (or when something sleeps on it)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._wall = start
        self._mono = 1000.0
        self.slept = 0.0  # total seconds slept on this clock

    def monotonic(self) -> float:
        return self._mono

    def time(self) -> float:
        return self._wall

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        self.slept += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self._wall += seconds
        self._mono += seconds


@record(frozen=False)
class FakeProcess:
    pid: int
    ppid: int
    pgid: int
    start_time: float
    env: dict[str, str] = field(default_factory=dict)
    ignore_term: bool = False
    port: int | None = None
    exit_status: int | None = None  # set once it ended: its code, or 128 + the signal that ended it

    @property
    def alive(self) -> bool:
        return self.exit_status is None


@record
class Signalled:
    """One signal a fake process got: which, and when (on the fake monotonic clock)."""

    pid: int
    signal: int
    at: float


class FakeProcessGateway:
    """The processes of a fake machine (fleetctl.runtime.gateways.Processes)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.processes: dict[int, FakeProcess] = {}
        self.signals: list[Signalled] = []
        self._next_pid = FIRST_FAKE_PID

    # --- driving the fake -------------------------------------------------------------

    def start(
        self,
        ppid: int = 1,
        env: Iterable[tuple[str, str]] = (),
        *,
        ignore_term: bool = False,
        port: int | None = None,
        group_leader: bool = True,
    ) -> FakeProcess:
        pid = self._next_pid
        self._next_pid += 1
        pgid = pid if group_leader or ppid not in self.processes else self.processes[ppid].pgid
        proc = FakeProcess(
            pid=pid,
            ppid=ppid,
            pgid=pgid,
            start_time=self.clock.time(),
            env=dict(env),
            ignore_term=ignore_term,
            port=port,
        )
        self.processes[pid] = proc
        return proc

    def exit(self, pid: int, status: int) -> None:
        """The process ends by itself with this status (a code, or 128 + a signal)."""
        proc = self.processes[pid]
        if proc.alive:
            proc.exit_status = status

    # --- the gateway ---------------------------------------------------------------------

    def _info(self, proc: FakeProcess) -> ProcInfo:
        return ProcInfo(pid=proc.pid, ppid=proc.ppid, pgid=proc.pgid, start_time=proc.start_time, cpu_seconds=0.0)

    def scan(self) -> ProcTable:
        table = ProcTable()
        for proc in self.processes.values():
            if proc.alive:
                table.procs[proc.pid] = self._info(proc)
                table.children.setdefault(proc.ppid, []).append(proc.pid)
        return table

    def read(self, pids: Iterable[int]) -> ProcTable:
        table = ProcTable()
        for pid in pids:
            proc = self.processes.get(pid)
            if proc is not None and proc.alive:
                table.procs[pid] = self._info(proc)
        return table

    def listening(self) -> dict[int, set[int]]:
        return {pid: {p.port} for pid, p in self.processes.items() if p.alive and p.port is not None}

    def listening_ports(self, pids: Iterable[int], listening: dict[int, set[int]] | None = None) -> dict[int, set[int]]:
        listening = self.listening() if listening is None else listening
        return {pid: listening[pid] for pid in pids if pid in listening}

    def under(self, pid: int, roots: set[int], depth: int = 64) -> int | None:
        proc = self.processes.get(pid)
        for _ in range(depth):
            if proc is None or not proc.alive:
                return None
            if proc.pid in roots:
                return proc.pid
            proc = self.processes.get(proc.ppid)
        return None

    def io_bytes(self, pids: Iterable[int]) -> int:
        return 0

    def find_env(
        self,
        key: str,
        values: set[str],
        table: ProcTable | None = None,
        since: float | None = None,
        skip: set[int] | frozenset[int] = frozenset(),
        within: set[int] | None = None,
    ) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for proc in self.processes.values():
            if within is not None and proc.pid not in within:
                continue
            if proc.alive and proc.pid not in skip and proc.env.get(key) in values:
                found.setdefault(proc.env[key], []).append(proc.pid)
        return found

    def alive(self, pid: int, start_time: float | None = None) -> bool:
        proc = self.processes.get(pid)
        return proc is not None and proc.alive and (start_time is None or abs(proc.start_time - start_time) < 0.05)

    def identity(self, pid: int) -> float | None:
        proc = self.processes.get(pid)
        return proc.start_time if proc is not None and proc.alive else None

    def own_cgroup(self) -> Path | None:
        return None  # fake processes get no cgroup

    def environ(self, pid: int) -> dict[str, str]:
        proc = self.processes.get(pid)
        return dict(proc.env) if proc is not None and proc.alive else {}

    def signal(self, targets: dict[int, float], sig: int) -> None:
        for pid, started in targets.items():
            if not self.alive(pid, started):
                continue
            self.signals.append(Signalled(pid=pid, signal=sig, at=self.clock.monotonic()))
            proc = self.processes[pid]
            if sig != signals.SIGTERM or not proc.ignore_term:
                proc.exit_status = 128 + sig


@record(frozen=False)
class FakeWindow:
    name: str
    window_id: str
    pane_id: str
    pid: int
    index: int
    activity: float
    exit_file: Path | None = None  # where the run's wrapper writes its command's exit status
    exit_written: bool = False


class FakeTmuxGateway:
    """One fleet's fake tmux server (fleetctl.runtime.gateways.Tmux), on a FakeProcessGateway.

    A window's process is started with the request's env; `ignore_term` and `ports` say how
    the processes of windows with a given name behave.
    """

    def __init__(self, procs: FakeProcessGateway, clock: FakeClock, session: str = "fake") -> None:
        self.procs = procs
        self.clock = clock
        self.socket_name = f"fleetctl-{session}"
        self.session = session
        self.calls = 0
        self.server: FakeProcess | None = None
        self.windows: list[FakeWindow] = []
        self.ignore_term: set[str] = set()
        self.ports: dict[str, int] = {}
        self.typed: list[tuple[str, str]] = []
        self._next_id = 1

    # --- driving the fake -------------------------------------------------------------

    def window(self, name: str) -> FakeWindow | None:
        """The newest window of this name."""
        return next((w for w in reversed(self.windows) if w.name == name), None)

    # --- the gateway ---------------------------------------------------------------------

    def _pane(self, window: FakeWindow) -> PaneInfo:
        proc = self.procs.processes[window.pid]
        if not proc.alive and window.exit_file is not None and not window.exit_written:
            # As the real wrapper does once its command ended (a closed window's wrapper dies
            # first): the end marker into the run's log (state_dir/logs/<agent>/<run>.log), then
            # the exit file.
            log = window.exit_file.parent.parent / "logs" / window.name / f"{window.exit_file.stem}.log"
            if log.exists():
                with log.open("ab") as f:
                    f.write(END_MARKER)
            window.exit_file.write_text(f"{proc.exit_status}\n")
            window.exit_written = True
        return PaneInfo(
            window_id=window.window_id,
            window_name=window.name,
            pane_id=window.pane_id,
            pid=window.pid,
            dead=not proc.alive,
            dead_status=proc.exit_status,
            activity=window.activity,
            window_index=window.index,
        )

    def panes(self) -> list[PaneInfo] | None:
        self.calls += 1
        if self.server is None:
            return None
        return [self._pane(w) for w in self.windows]

    def panes_started(self) -> Callable[[], list[PaneInfo] | None]:
        return self.panes

    def capture(self, pane_id: str, lines: int = 20) -> str:
        return ""

    def capture_screens(self, pane_ids: Sequence[str]) -> dict[str, str]:
        if pane_ids:
            self.calls += 1
        return dict.fromkeys(pane_ids, "")

    def ensure_session(self, cwd: str, wake_fifo: str | None) -> None:
        self.calls += 1
        if self.server is None:
            self.server = self.procs.start()
            self._open(WindowRequest(name=HOME_WINDOW, argv=("/bin/sh",), cwd=cwd))

    def _open(self, request: WindowRequest) -> OpenedWindow:
        assert self.server is not None, "no fake tmux server: call ensure_session first"
        proc = self.procs.start(
            self.server.pid,
            request.env,
            ignore_term=request.name in self.ignore_term,
            port=self.ports.get(request.name),
        )
        number = self._next_id
        self._next_id += 1
        index = max((w.index for w in self.windows), default=0) + 1
        window = FakeWindow(
            name=request.name,
            window_id=f"@{number}",
            pane_id=f"%{number}",
            pid=proc.pid,
            index=index,
            activity=self.clock.time(),
            exit_file=Path(request.argv[-1]).with_suffix(".exit") if request.argv[-1].endswith(".sh") else None,
        )
        self.windows.append(window)
        return OpenedWindow(name=request.name, window_id=window.window_id, pane_id=window.pane_id, pid=proc.pid)

    def open_windows(
        self,
        requests: Sequence[WindowRequest],
        close_first: Sequence[str] = (),
    ) -> OpenedWindows:
        self.calls += 1
        opened = tuple(self._open(request) for request in requests)
        self.kill_windows(close_first)
        return OpenedWindows(opened=opened)

    def kill_windows(self, window_ids: Iterable[str]) -> None:
        doomed = set(window_ids)
        for window in [w for w in self.windows if w.window_id in doomed]:
            self.procs.exit(window.pid, 128 + signals.SIGHUP)
            self.windows.remove(window)

    def repipe(self, pane_id: str, command: str) -> None:
        self.calls += 1

    def send_keys(self, pane_id: str, keys: Sequence[str], text: str | None = None) -> None:
        self.calls += 1
        if text:
            self.typed.append((pane_id, text))
        self.typed += [(pane_id, key) for key in keys]

    def paste(self, pane_id: str, text: str, submit: Sequence[str]) -> None:
        self.send_keys(pane_id, submit, text)

    def send_text(self, pane_id: str, text: str) -> None:
        self.typed.append((pane_id, text))

    def ready_to_act(self) -> None:
        pass

    def drop_wake_hooks(self) -> None:
        self.calls += 1

    def kill_server(self) -> None:
        self.kill_windows([w.window_id for w in self.windows])
        if self.server is not None:
            self.procs.exit(self.server.pid, 0)
        self.server = None

    def attach_argv(self, window_id: str, inside_tmux: bool) -> list[str]:
        return ["tmux", "-L", self.socket_name, "attach", "-t", window_id]

    def remove_socket(self) -> None:
        return None

    def socket_path(self) -> str:
        return f"/nonexistent/{self.socket_name}"
