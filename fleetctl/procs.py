"""ProcessGateway: the only module that looks at other processes or signals them.

Built on psutil, so it runs wherever psutil does. A process is identified by (pid, start
time) (psutil's create_time), never by a bare pid, so a recycled pid is never signalled.
Where psutil has no figure on a platform (I/O counters on macOS, /proc/locks off Linux)
the signal is absent, not an error.

psutil is imported by the methods that use it, never at import time: importing this
module costs nothing, and a command that never looks at a process never loads psutil.
The TERM -> KILL escalation is the runtime's (fleetctl.runtime.terminate), on the fleet's
clock; this gateway only reads processes and signals them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from fleetctl.model import ProcInfo
from fleetctl.record import field, record

if TYPE_CHECKING:
    import psutil

IDENTITY_TOLERANCE_SECONDS = 0.05  # start times are in clock ticks (10 ms on Linux)
FIND_ENV_SLACK_SECONDS = 2.0  # a process's start time and a run's start are read by different clocks
# Where a shell script reads its own children (Linux, CONFIG_PROC_CHILDREN): the run wrapper's
# last lines end what the run left behind with it (fleetctl.runtime.launcher).
SHELL_CHILDREN_FILE = "/proc/$$/task/$$/children"


@record(frozen=False)
class ProcTable:
    """One scan: every live (non-zombie) process and its children."""

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

    def __init__(self) -> None:
        # Each process signalled, as psutil knows it (its start time read): the KILL after a
        # stop_timeout reuses it, so each survivor is read once before its KILL, not three
        # times (a stop-all of 100 agents' ~300 processes: the KILL wave 131 -> ~95 ms).
        self._signalled: dict[int, psutil.Process] = {}

    # --- reading ----------------------------------------------------------------------

    def scan(self) -> ProcTable:
        import psutil

        table = ProcTable()
        for pid in psutil.pids():
            info = _info(pid)
            if info is not None:
                table.procs[pid] = info
                table.children.setdefault(info.ppid, []).append(pid)
        return table

    def read(self, pids: Iterable[int]) -> ProcTable:
        """Only these processes, without their children: enough to tell a live pane from a dead
        one, for a fraction of a scan."""
        table = ProcTable()
        for pid in pids:
            info = _info(pid)
            if info is not None:
                table.procs[pid] = info
        return table

    def alive(self, pid: int, start_time: float | None = None) -> bool:
        """Is this process running (not a zombie), and, given its start time, the same one?

        Reads only the start time and the state, not a whole ProcInfo (no CPU times, no
        process group): the stop loop asks this of every process it waits on, every few ms.
        """
        import psutil

        try:
            proc = psutil.Process(pid)  # reads the start time
            if start_time is not None and not _same_start(proc.create_time(), start_time):
                running = False
            else:
                running = proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            running = False
        if not running:
            self._signalled.pop(pid, None)  # ended: never signalled again
        return running

    def identity(self, pid: int) -> float | None:
        """The start time that, with the pid, identifies this process; None if it is gone."""
        info = _info(pid)
        return None if info is None else info.start_time

    def environ(self, pid: int) -> dict[str, str]:
        """The process's environment; empty if it is gone or not ours to read."""
        import psutil

        try:
            return psutil.Process(pid).environ()
        except psutil.Error:
            return {}

    def find_env(
        self,
        key: str,
        values: set[str],
        table: ProcTable | None = None,
        since: float | None = None,
        skip: set[int] | frozenset[int] = frozenset(),
        within: set[int] | None = None,
    ) -> dict[str, list[int]]:
        """Processes whose environment has key=one of values, e.g. every FLEET_RUN of a run.

        This finds what left the process group and the tree (setsid, double fork). With
        `since`, only processes started after it are read: older ones cannot carry the run
        (their start times come from `table`, else from each process: a read of its start
        time costs a third of a read of its environment).
        `skip`: processes the caller knows cannot carry it (their environment is not read).
        `within`: only these processes can (the run's cgroup, as the kernel lists it).
        Processes that are gone, zombies or not ours to read are passed over.
        """
        import psutil

        found: dict[str, list[int]] = {}
        if not values:
            return found
        me = os.getpid()
        oldest = None if since is None else since - FIND_ENV_SLACK_SECONDS
        if within is not None:
            pids = sorted(within)
        elif table is not None and oldest is not None:
            pids = [p.pid for p in table.procs.values() if p.start_time >= oldest]
            oldest = None  # already filtered
        else:
            pids = psutil.pids()
        for pid in pids:
            if pid == me or pid in skip:
                continue
            try:
                proc = psutil.Process(pid)  # reads the start time
                if oldest is not None and proc.create_time() < oldest:
                    continue
                value = proc.environ().get(key)
            except psutil.Error:  # NoSuchProcess, ZombieProcess, AccessDenied
                continue
            if value in values:
                found.setdefault(value, []).append(pid)
        return found

    def listening(self) -> dict[int, set[int]]:
        """Every listening TCP socket on the machine (v4 and v6), by owner: pid -> its ports.

        One psutil.net_connections("tcp") call, which reads /proc/net/tcp once and maps each
        socket to its process (LISTEN exists only for TCP, so UDP is not read). A socket whose
        owner is not ours to see is listed under pid -1: the port is known to be taken.
        Asking each process for its own sockets instead re-reads the whole socket table per
        process (0.33 s for a 100-agent bring-up, against one ~15 ms call).
        """
        import psutil

        listen = psutil.CONN_LISTEN
        out: dict[int, set[int]] = {}
        try:
            for c in psutil.net_connections(kind="tcp"):
                if c.status == listen and c.laddr:
                    out.setdefault(c.pid if c.pid is not None else -1, set()).add(c.laddr.port)
        except psutil.AccessDenied:  # macOS without root: every process we may ask, one by one
            for proc in psutil.process_iter():
                try:
                    ports = {c.laddr.port for c in proc.net_connections(kind="tcp") if c.status == listen and c.laddr}
                except psutil.Error:
                    continue
                if ports:
                    out[proc.pid] = ports
        return out

    def listening_ports(self, pids: Iterable[int], listening: dict[int, set[int]] | None = None) -> dict[int, set[int]]:
        """For each of these pids that listens, its TCP ports.

        With `listening` (a listening() taken already) this is a lookup; but a socket shared
        by several processes (a child or a setsid grandchild that inherited it) is listed
        there under one of them only. Without it, each process is asked for its own
        sockets: exact, and costly (the whole socket table is read again per process).
        """
        if listening is not None:
            return {pid: listening[pid] for pid in pids if pid in listening}
        import psutil

        out: dict[int, set[int]] = {}
        for pid in pids:
            try:
                conns = psutil.Process(pid).net_connections(kind="tcp")
            except psutil.Error:
                continue
            ports = {c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN and c.laddr}
            if ports:
                out[pid] = ports
        return out

    def under(self, pid: int, roots: set[int], depth: int = 64) -> int | None:
        """The one of `roots` that this process is (or descends from), found by walking up its
        parents: a few reads where a tree from a scan reads every process; None if none."""
        import psutil

        try:
            proc: psutil.Process | None = psutil.Process(pid)
            for _ in range(depth):
                if proc is None or proc.pid <= 1:
                    return None
                if proc.pid in roots:
                    return proc.pid
                proc = proc.parent()
        except psutil.Error:
            return None
        return None

    def io_bytes(self, pids: Iterable[int]) -> int:
        """Characters read and written by these processes (ttys and pipes included).

        0 where the platform keeps no I/O counters (macOS): the I/O signal is absent there and
        CPU time alone tells activity.
        """
        import psutil

        if not hasattr(psutil.Process, "io_counters"):
            return 0
        total = 0
        for pid in pids:
            try:
                io = psutil.Process(pid).io_counters()
            except psutil.Error:
                continue
            # rchar/wchar on Linux count pipes and ttys too; elsewhere only storage I/O is known
            total += getattr(io, "read_chars", io.read_bytes) + getattr(io, "write_chars", io.write_bytes)
        return total

    def flock_holders(self, path: Path) -> set[int] | None:
        """Pids holding a flock on this file, read without taking it; None where the system does
        not say (no /proc/locks: every system but Linux)."""
        try:
            st = path.stat()
        except OSError:
            return set()
        key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        out = set()
        try:
            with open("/proc/locks") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == key and parts[4].isdigit():
                        out.add(int(parts[4]))
        except OSError:
            return None
        return out

    def own_cgroup(self) -> Path | None:
        """The cgroup v2 directory this process is in, or None (see own_cgroup)."""
        return own_cgroup()

    # --- ending -----------------------------------------------------------------------

    def signal(self, targets: dict[int, float], sig: int) -> None:
        """Send sig to each of these processes ({pid: start time}) that is still the one
        recorded: a recycled pid is never signalled."""
        _send(self._processes(targets), sig)

    def _processes(self, targets: dict[int, float]) -> list[psutil.Process]:
        """The processes of targets ({pid: start time}) that still run with that start time: a
        recycled pid is dropped here, and psutil checks the identity again before each signal
        (a zombie is signalled too: it cannot act on it, and telling costs a read)."""
        import psutil

        out = []
        for pid, started in targets.items():
            proc = self._signalled.get(pid)
            try:
                if proc is None or not _same_start(proc.create_time(), started):
                    proc = psutil.Process(pid)
                if _same_start(proc.create_time(), started):
                    self._signalled[pid] = proc
                    out.append(proc)
            except psutil.Error:
                continue
        return out


def own_cgroup() -> Path | None:
    """The cgroup v2 directory this process is in (Linux, a cgroup2 mount), or None."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
        with open("/proc/self/mountinfo") as f:
            mounts = f.read().splitlines()
    except OSError:
        return None
    relative = next((line[3:] for line in lines if line.startswith("0::")), None)
    for line in mounts:
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if sep and right.split()[:1] == ["cgroup2"] and len(fields) > 4 and relative is not None:
            return Path(fields[4]) / relative.lstrip("/")
    return None


def _same_start(a: float, b: float) -> bool:
    return abs(a - b) < IDENTITY_TOLERANCE_SECONDS


def _info(pid: int) -> ProcInfo | None:
    """One live process; None if it is gone, a zombie, or not ours to read."""
    import psutil

    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            cpu = proc.cpu_times()
            ppid, started = proc.ppid(), proc.create_time()
        pgid = os.getpgid(pid)
    except (psutil.Error, ProcessLookupError):
        return None
    except OSError:  # a group we may not ask about (another session, on some systems)
        pgid = -1
    return ProcInfo(pid=pid, ppid=ppid, pgid=pgid, start_time=started, cpu_seconds=cpu.user + cpu.system)


def _send(procs: list[psutil.Process], sig: int) -> None:
    import psutil

    for proc in procs:
        try:
            proc.send_signal(sig)
        except psutil.Error:  # gone, or recycled since (psutil compares the start time)
            continue
