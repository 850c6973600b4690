"""What the runtime needs from tmux and from the processes: Protocols, so tests pass fakes
(fleetctl.testing) and the real gateways (fleetctl.tmux, fleetctl.procs) stay swappable."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from fleetctl.model import PaneInfo
from fleetctl.procs import ProcTable
from fleetctl.tmux import OpenedWindows, WindowRequest


class Tmux(Protocol):
    """One fleet's private tmux server (fleetctl.tmux.TmuxGateway)."""

    socket_name: str
    session: str

    def panes(self) -> list[PaneInfo] | None: ...

    def panes_started(self) -> Callable[[], list[PaneInfo] | None]: ...

    def capture(self, pane_id: str, lines: int = 20) -> str: ...

    def capture_screens(self, pane_ids: Sequence[str]) -> dict[str, str]: ...

    def ensure_session(self, cwd: str, wake_fifo: str | None) -> None: ...

    def open_windows(
        self,
        requests: Sequence[WindowRequest],
        close_first: Sequence[str] = (),
    ) -> OpenedWindows: ...

    def kill_windows(self, window_ids: Iterable[str]) -> None: ...

    def repipe(self, pane_id: str, command: str) -> None: ...

    def send_text(self, pane_id: str, text: str) -> None: ...

    def send_keys(self, pane_id: str, keys: Sequence[str], text: str | None = None) -> None: ...

    def paste(self, pane_id: str, text: str, submit: Sequence[str]) -> None: ...

    def drop_wake_hooks(self) -> None: ...

    def ready_to_act(self) -> None: ...

    def kill_server(self) -> None: ...

    def attach_argv(self, window_id: str, inside_tmux: bool) -> list[str]: ...

    def remove_socket(self) -> None: ...

    def socket_path(self) -> str: ...


class Processes(Protocol):
    """The machine's processes (fleetctl.procs.ProcessGateway). A process is (pid, start time)."""

    def scan(self) -> ProcTable: ...

    def read(self, pids: Iterable[int]) -> ProcTable: ...

    def listening(self) -> dict[int, set[int]]: ...

    def listening_ports(
        self, pids: Iterable[int], listening: dict[int, set[int]] | None = None
    ) -> dict[int, set[int]]: ...

    def under(self, pid: int, roots: set[int], depth: int = 64) -> int | None: ...

    def io_bytes(self, pids: Iterable[int]) -> int: ...

    def find_env(
        self,
        key: str,
        values: set[str],
        table: ProcTable | None = None,
        since: float | None = None,
        skip: set[int] | frozenset[int] = frozenset(),
        within: set[int] | None = None,
    ) -> dict[str, list[int]]: ...

    def alive(self, pid: int, start_time: float | None = None) -> bool: ...

    def identity(self, pid: int) -> float | None: ...

    def environ(self, pid: int) -> dict[str, str]: ...

    def own_cgroup(self) -> Path | None: ...

    def signal(self, targets: dict[int, float], sig: int) -> None:
        """Send sig to each of these processes that is still the one recorded."""
        ...
