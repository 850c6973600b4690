"""ProcessGateway ending real processes: what escaped the tree is found by FLEET_RUN, a process
that ignores SIGTERM is KILLed after the grace, and a pid whose start time does not match is
never signalled. /proc is read here only as the test's own witness (tests.conftest)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetctl.clock import SystemClock
from fleetctl.procs import ProcessGateway
from fleetctl.runtime import terminate
from tests.conftest import alive, pids_with_env, wait_for

IGNORE_TERM = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGTERM, lambda *_: print('TERM', flush=True))\n"
    "print('ready', os.getpid(), flush=True)\n"
    "for line in sys.stdin:\n"
    "    print('pong', flush=True)\n"
)


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; killed afterwards whatever happened."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _stubborn(started: list[subprocess.Popen[str]]) -> tuple[subprocess.Popen[str], int]:
    """A process that ignores SIGTERM (saying so), answers each line on stdin, and is not ours:
    a shell runs it and says how it ended, as the pane's shell would (a process the test had
    started itself would be reaped by psutil's wait, its exit status lost)."""
    shell = _start(started, ["/bin/sh", "-c", '"$0" -c "$1"; echo "exit $?"', sys.executable, IGNORE_TERM])
    assert shell.stdout is not None
    ready, pid = shell.stdout.readline().split()
    assert ready == "ready"
    return shell, int(pid)


def _start(started: list[subprocess.Popen[str]], argv: list[str], **env: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(argv, env={**os.environ, **env}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    started.append(proc)
    return proc


@pytest.mark.timeout(30)
def test_a_setsid_grandchild_is_found_by_fleet_run_and_killed(
    started: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    run = uuid.uuid4().hex
    marker = tmp_path / "escaped"
    # The subshell starts a new session's sleep and exits: the sleep leaves the tree (it is
    # reparented) and the process group, and keeps only FLEET_RUN in its environment.
    script = f"(setsid sh -c 'echo $$ > {marker}; exec sleep 300' &); exec sleep 300"
    root = _start(started, ["/bin/sh", "-c", script], FLEET_RUN=run)
    escaped = int(str(wait_for(lambda: marker.exists() and marker.read_text().strip(), what="the escaped pid")))
    wait_for(lambda: set(pids_with_env("FLEET_RUN", run)) == {root.pid, escaped}, what="both carriers running")
    gateway = ProcessGateway()
    table = gateway.scan()
    assert escaped not in table.tree(root.pid) and escaped not in table.group(root.pid), "it did escape"
    carriers = gateway.find_env("FLEET_RUN", {run})
    assert sorted(carriers[run]) == sorted([root.pid, escaped])
    pids = set(table.tree(root.pid)) | set(table.group(root.pid)) | set(carriers[run])
    left = terminate.escalate(gateway, SystemClock(), [({p: table.procs[p].start_time for p in pids}, 2.0)])
    assert left == set()
    wait_for(lambda: not alive(root.pid), timeout=5, what="the root to be gone")
    wait_for(lambda: not alive(escaped), timeout=5, what="the escaped grandchild to be gone")
    assert pids_with_env("FLEET_RUN", run) == []


@pytest.mark.timeout(30)
def test_a_process_that_ignores_term_is_killed_after_the_grace(started: list[subprocess.Popen[str]]) -> None:
    shell, stubborn = _stubborn(started)
    gateway = ProcessGateway()
    identity = gateway.identity(stubborn)
    assert identity is not None
    began = time.monotonic()
    assert terminate.escalate(gateway, SystemClock(), [({stubborn: identity}, 0.5)]) == set()
    took = time.monotonic() - began
    assert shell.stdout is not None
    assert shell.stdout.readline() == "TERM\n", "TERM first"
    assert shell.stdout.readline() == f"exit {128 + signal.SIGKILL}\n", "then KILL"
    assert 0.5 <= took < 5.0, f"KILL after the 0.5 s grace, took {took:.2f} s"


@pytest.mark.timeout(30)
def test_a_pid_whose_start_time_does_not_match_is_never_signalled(started: list[subprocess.Popen[str]]) -> None:
    """What a recycled pid looks like to the gateway: the pid is there, the start time recorded
    for it is another process's."""
    shell, bystander = _stubborn(started)
    gateway = ProcessGateway()
    identity = gateway.identity(bystander)
    assert identity is not None
    recycled = {bystander: identity - 30.0}
    gateway.signal({bystander: identity}, signal.SIGCONT)  # the gateway now knows the real one
    assert terminate.escalate(gateway, SystemClock(), [(recycled, 0.2)]) == set()
    assert not gateway.alive(bystander, identity - 30.0) and gateway.alive(bystander, identity)
    assert terminate.kill_now(gateway, SystemClock(), recycled) == set()
    assert terminate.wait_gone(gateway, SystemClock(), recycled, 0.2) == set()
    # A signal sent is pending before kill() returns, and it interrupts the child's read: had
    # it been sent anything, the child would print TERM (or die) before answering.
    assert shell.stdin is not None and shell.stdout is not None
    shell.stdin.write("ping\n")
    shell.stdin.flush()
    assert shell.stdout.readline() == "pong\n", "not signalled"
