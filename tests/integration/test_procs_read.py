"""ProcessGateway reading real processes: listening ports, CPU and I/O deltas, the tree of a
process, and who holds a flock (doctor's lock check)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetctl.doctor import check_lock
from fleetctl.procs import ProcessGateway
from tests.conftest import wait_for

# Listens on 127.0.0.1 (a port the kernel picks), then on each line of stdin burns a little CPU
# and writes a block to a file, and answers.
WORKER = """
import os, socket, sys, time
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
print(server.getsockname()[1], os.getpid(), flush=True)
for line in sys.stdin:
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    with open(os.devnull, "wb") as f:
        f.write(b"x" * 1_000_000)
    print("done", flush=True)
"""


@pytest.fixture
def worker() -> Iterator[tuple[subprocess.Popen[str], int, int]]:
    """The worker under a shell (so it is not the test's child, as an agent is not fleetctl's):
    the shell, the worker's pid and its port."""
    shell = subprocess.Popen(
        ["/bin/sh", "-c", '"$0" -c "$1"', sys.executable, WORKER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert shell.stdin is not None and shell.stdout is not None
    port, pid = (int(x) for x in shell.stdout.readline().split())
    yield shell, pid, port
    shell.stdin.close()  # the worker's stdin ends: it exits, then the shell
    try:
        shell.wait(timeout=10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        shell.kill()
        shell.wait()


def _work(shell: subprocess.Popen[str]) -> None:
    assert shell.stdin is not None and shell.stdout is not None
    shell.stdin.write("go\n")
    shell.stdin.flush()
    assert shell.stdout.readline() == "done\n"


@pytest.mark.timeout(30)
def test_the_listening_port_of_a_real_server_is_found(worker: tuple[subprocess.Popen[str], int, int]) -> None:
    shell, pid, port = worker
    gateway = ProcessGateway()
    listening = gateway.listening()
    assert port in listening[pid]
    assert gateway.listening_ports([shell.pid, pid], listening) == {pid: {port}}
    assert gateway.listening_ports([shell.pid]) == {}, "the shell itself listens on nothing"
    # Which pane a listener runs under, by walking up its parents (no scan).
    assert gateway.under(pid, {shell.pid, 999_999_999}) == shell.pid
    assert gateway.under(pid, {pid}) == pid
    with subprocess.Popen(["sleep", "30"]) as sibling:  # a process beside it, not above it
        try:
            assert gateway.under(pid, {sibling.pid}) is None
        finally:
            sibling.kill()


@pytest.mark.timeout(30)
def test_cpu_and_io_deltas_of_a_tree_grow_when_it_works(worker: tuple[subprocess.Popen[str], int, int]) -> None:
    shell, pid, _ = worker
    gateway = ProcessGateway()
    before = gateway.scan()
    tree = before.tree(shell.pid)
    assert tree == [shell.pid, pid]
    io_before = gateway.io_bytes(tree)
    _work(shell)
    after = gateway.scan()
    assert after.cpu_seconds(tree) - before.cpu_seconds(tree) >= 0.15
    assert gateway.io_bytes(tree) - io_before >= 1_000_000
    assert after.procs[pid].ppid == shell.pid and after.procs[pid].pgid == os.getpgid(shell.pid)
    assert gateway.read([pid]).procs[pid].start_time == before.procs[pid].start_time


@pytest.mark.timeout(30)
def test_doctor_names_the_process_holding_the_fleet_lock(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.write_text("1")
    gateway = ProcessGateway()
    free = check_lock(tmp_path, gateway.alive, gateway.flock_holders)
    assert free.ok and free.detail.startswith("free"), free.detail
    hold = "import fcntl, sys; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); input()"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert gateway.flock_holders(lock) == {holder.pid}
        held = check_lock(tmp_path, gateway.alive)
        assert held.ok and held.detail.startswith(f"held now by pid {holder.pid}"), held.detail
        with open(lock) as f, pytest.raises(BlockingIOError):  # the check took no lock: still the holder's
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        holder.kill()
        holder.wait()
    wait_for(lambda: gateway.flock_holders(lock) == set(), what="the lock released with its holder")
