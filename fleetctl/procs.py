"""ProcessGateway: the only module that reads /proc or sends signals.

It reads /proc directly (Linux) rather than through psutil: one scan of /proc/*/stat
gives every process's parent, group, start time and CPU time, which is all a status
needs, at a fraction of the import and call cost. A process is identified by
(pid, start time), never by a bare pid, so a recycled pid is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable

from fleetctl.model import ProcInfo
from fleetctl.record import field, record

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_KILL_POLL_SECONDS = 0.02
_KILL_WAIT_SECONDS = 5.0


def _boot_time() -> float:
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"btime "):
                return float(line.split()[1])
    return 0.0


_BOOT_TIME = _boot_time()


def _poll_pause(polls: int) -> float:
    """How long to wait before looking again at processes just signalled: most die within a
    millisecond, so look again soon, then back off to the steady poll."""
    return min(_KILL_POLL_SECONDS, 0.002 * 2**polls)


def _read_stat(pid: int | str) -> ProcInfo | None:
    """A live process from /proc/<pid>/stat; None if it is gone or a zombie (os.read: a scan
    reads hundreds)."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    # comm may contain spaces and parentheses: split after the last ')'.
    rest = data[data.rindex(b")") + 2 :].split()
    if rest[0] in (b"Z", b"X"):
        return None
    # pid, ppid, pgid, start time, CPU time (user + system)
    info = ProcInfo(int(pid), int(rest[1]), int(rest[2]), _BOOT_TIME + int(rest[19]) / _CLK_TCK,
                    (int(rest[11]) + int(rest[12])) / _CLK_TCK)  # fmt: skip
    return info


@record(frozen=False)
class ProcTable:
    """One scan of /proc: every live (non-zombie) process and its children."""

    procs: dict[int, ProcInfo] = field(default_factory=dict)
    children: dict[int, list[int]] = field(default_factory=dict)

    def tree(self, root: int) -> list[int]:
        """root and all its descendants that are still children of it (not reparented)."""
        if root not in self.procs:
            return []
        out, stack = [], [root]
        while stack:
            pid = stack.pop()
            out.append(pid)
            stack.extend(self.children.get(pid, ()))
        return out

    def group(self, pgid: int) -> list[int]:
        return [p.pid for p in self.procs.values() if p.pgid == pgid]

    def cpu_seconds(self, pids: Iterable[int]) -> float:
        return sum(self.procs[p].cpu_seconds for p in pids if p in self.procs)


class ProcessGateway:
    """Reads processes and ends them, for one machine."""

    def scan(self) -> ProcTable:
        table = ProcTable()
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            info = _read_stat(entry.name)
            if info is None:
                continue
            table.procs[info.pid] = info
            table.children.setdefault(info.ppid, []).append(info.pid)
        return table

    def read(self, pids: Iterable[int]) -> ProcTable:
        """Only these processes, without their children: enough to tell a live pane from a dead
        one, for a fraction of a scan."""
        table = ProcTable()
        for pid in pids:
            info = _read_stat(pid)
            if info is not None:
                table.procs[pid] = info
        return table

    def listening(self) -> dict[int, int]:
        """Every listening TCP socket on the machine (v4 and v6): inode -> port."""
        return _listening_inodes()

    def listening_ports(self, pids: Iterable[int], inode_port: dict[int, int] | None = None) -> dict[int, set[int]]:
        """For each pid, the TCP ports it has a listening socket on (v4 and v6)."""
        inode_port = _listening_inodes() if inode_port is None else inode_port
        out: dict[int, set[int]] = {}
        if not inode_port:
            return out
        for pid in pids:
            try:
                fds = os.scandir(f"/proc/{pid}/fd")
            except OSError:
                continue
            with fds:
                for fd in fds:
                    try:
                        target = os.readlink(fd.path)
                    except OSError:
                        continue
                    if target.startswith("socket:["):
                        port = inode_port.get(int(target[8:-1]))
                        if port is not None:
                            out.setdefault(pid, set()).add(port)
        return out

    def io_bytes(self, pids: Iterable[int]) -> int:
        """Characters read and written by these processes (ttys and pipes included)."""
        total = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/io", "rb") as f:
                    for line in f:
                        if line.startswith((b"rchar:", b"wchar:")):
                            total += int(line.split()[1])
            except OSError:
                continue
        return total

    def find_env(
        self,
        key: str,
        values: set[str],
        table: ProcTable | None = None,
        since: float | None = None,
        skip: set[int] | frozenset[int] = frozenset(),
    ) -> dict[str, list[int]]:
        """Processes whose environment has key=one of values, e.g. every FLEET_RUN of a run.

        This finds what left the process group and the tree (setsid, double fork). With
        `since`, only processes started after it are read: older ones cannot carry the run.
        `skip`: processes the caller knows cannot carry it (their environment is not read).
        """
        wanted = {f"{key}={v}".encode(): v for v in values}
        found: dict[str, list[int]] = {}
        if not wanted:
            return found
        me = os.getpid()
        if table is not None and since is not None:
            pids = [p.pid for p in table.procs.values() if p.start_time >= since - 2.0]
        else:
            pids = [int(e.name) for e in os.scandir("/proc") if e.name.isdigit()]
        for pid in pids:
            if pid == me or pid in skip:
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = f.read()
            except OSError:
                continue
            for item in env.split(b"\0"):
                if item in wanted:
                    found.setdefault(wanted[item], []).append(pid)
                    break
        return found

    def alive(self, pid: int, start_time: float | None = None) -> bool:
        info = _read_stat(pid)
        return info is not None and (start_time is None or abs(info.start_time - start_time) < 0.05)

    def identity(self, pid: int) -> float | None:
        info = _read_stat(pid)
        return None if info is None else info.start_time

    def terminate_groups(
        self, groups: list[tuple[dict[int, float], float]], killed_all: Callable[[], None] | None = None
    ) -> set[int]:
        """Stop several groups at once: TERM all now, KILL each group's survivors at its own deadline.

        Every group is watched in the same polling loop, so N agents that ignore SIGTERM cost
        one stop_timeout in all, not N. Until its deadline a group is looked at only up to its
        first live process (is anything left?), so waiting on a hundred stubborn agents stays
        cheap; after a KILL, every process is checked, soon and then less often. `killed_all`
        runs right after a KILL that leaves no group waiting for its deadline (never if all
        ended on TERM): what the caller does next overlaps the kernel's teardown of the killed.
        Returns the pids still alive 5 s after their SIGKILL.
        """
        import signal  # here, not at the top: `status` never signals, and signal's enums cost milliseconds

        start = time.monotonic()
        for targets, _ in groups:
            self._signal(targets, signal.SIGTERM)
        pending = [(dict(targets), start + grace) for targets, grace in groups if targets]
        killed: dict[int, tuple[float, float]] = {}  # pid -> (start time, give-up time)
        left: set[int] = set()
        polls = 0
        while pending or killed:
            now = time.monotonic()
            still = []
            due: dict[int, float] = {}
            for targets, deadline in pending:
                if now >= deadline:
                    due.update(targets)
                elif self._any_alive(targets):
                    still.append((targets, deadline))
            if due:  # every group due now in one go: check them all, then KILL them all
                self._signal(due, signal.SIGKILL)
                killed.update({p: (s, now + _KILL_WAIT_SECONDS) for p, s in due.items()})
                polls = 0  # SIGKILLed processes end within milliseconds: look again soon
                if not still and killed_all is not None:
                    killed_all()
                    killed_all = None
            pending = still
            for pid, (started, give_up) in list(killed.items()):
                if not self.alive(pid, started):
                    del killed[pid]
                elif now >= give_up:
                    left.add(pid)
                    del killed[pid]
            if pending or killed:
                pause = _poll_pause(polls)  # never past the next group's deadline
                if pending:
                    pause = min(pause, max(0.0, min(d for _, d in pending) - time.monotonic()))
                time.sleep(pause)
                polls += 1
        return left

    def _any_alive(self, targets: dict[int, float]) -> bool:
        """Is any of these processes alive? Drops the dead ones it passes on the way."""
        for pid, started in list(targets.items()):
            if self.alive(pid, started):
                return True
            del targets[pid]
        return False

    def environ(self, pid: int) -> dict[str, str]:
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                raw = f.read()
        except OSError:
            return {}
        out = {}
        for item in raw.split(b"\0"):
            key, sep, value = item.partition(b"=")
            if sep:
                out[key.decode(errors="replace")] = value.decode(errors="replace")
        return out

    def wait_gone(self, targets: dict[int, float], timeout: float) -> set[int]:
        """Wait (bounded) for processes to exit; returns those still alive."""
        return self._wait_gone(targets, time.monotonic() + timeout)

    def kill_now(self, targets: dict[int, float]) -> set[int]:
        import signal

        self._signal(targets, signal.SIGKILL)
        return self._wait_gone(targets, time.monotonic() + _KILL_WAIT_SECONDS)

    def signal(self, targets: dict[int, float], sig: int) -> None:
        """Send sig to each of these processes that is still the one recorded (pid, start time)."""
        self._signal(targets, sig)

    def _signal(self, targets: dict[int, float], sig: int) -> None:
        # Every identity is checked first, then the signals go out together: reading the
        # /proc entry of a process the kernel is already tearing down is slow.
        live = [pid for pid, start in targets.items() if self.alive(pid, start)]
        for pid in live:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def _wait_gone(self, targets: dict[int, float], deadline: float) -> set[int]:
        left = {p for p, s in targets.items() if self.alive(p, s)}
        polls = 0
        while left and time.monotonic() < deadline:
            time.sleep(_poll_pause(polls))
            polls += 1
            left = {p for p in left if self.alive(p, targets[p])}
        return left


def _listening_inodes() -> dict[int, int]:
    inode_port: dict[int, int] = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path, "rb") as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) > 9 and parts[3] == b"0A":
                        inode_port[int(parts[9])] = int(parts[1].rsplit(b":", 1)[1], 16)
        except OSError:
            continue
    return inode_port
