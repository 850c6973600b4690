"""The TERM -> KILL escalation and the waits, on a fake clock (no real waiting), and the
process gateway's FLEET_RUN search against a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

from fleetctl.procs import ProcessGateway
from fleetctl.runtime import terminate
from fleetctl.runtime.terminate import KILL_WAIT_SECONDS


class FakeClock:
    """Time moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


class FakeProcess:
    """Ends `on_term` fake seconds after a SIGTERM and `on_kill` after a SIGKILL (None: it does not)."""

    def __init__(self, clock: FakeClock, pid: int, on_term: float | None = None, on_kill: float | None = 0.001):
        self.clock, self.pid, self.on_term, self.on_kill = clock, pid, on_term, on_kill
        self.signals: list[tuple[float, int]] = []
        self.ends_at: float | None = None

    def gone(self) -> bool:
        return self.ends_at is not None and self.clock.now >= self.ends_at

    def receive(self, sig: int) -> None:
        self.signals.append((self.clock.now, sig))
        delay = self.on_term if sig == signal.SIGTERM else self.on_kill
        if delay is not None:
            end = self.clock.now + delay
            self.ends_at = end if self.ends_at is None else min(self.ends_at, end)

    def sent(self) -> list[int]:
        return [sig for _, sig in self.signals]


class FakeProcesses:
    """The two things escalation asks of the process gateway: signal, and is it alive."""

    def __init__(self, procs: list[FakeProcess]) -> None:
        self.procs = {p.pid: p for p in procs}
        self.looks: list[float] = []  # when each liveness check was made

    def signal(self, targets: dict[int, float], sig: int) -> None:
        for pid in targets:
            if not self.procs[pid].gone():
                self.procs[pid].receive(sig)

    def alive(self, pid: int, start_time: float | None = None) -> bool:
        self.looks.append(self.procs[pid].clock.now)
        return not self.procs[pid].gone()


def _escalate(clock: FakeClock, groups: list[tuple[list[FakeProcess], float]], **kw: Any) -> set[int]:
    started = time.monotonic()
    procs = FakeProcesses([p for group, _ in groups for p in group])
    targets = [({p.pid: 0.0 for p in group}, grace) for group, grace in groups]
    left = terminate.escalate(procs, clock, targets, **kw)  # type: ignore[arg-type]
    assert time.monotonic() - started < 2.0, "the fake clock must make every wait instant"
    return left


@pytest.mark.timeout(10)
def test_a_process_that_ignores_term_gets_kill_when_its_grace_runs_out() -> None:
    clock = FakeClock()
    stubborn = FakeProcess(clock, 101)
    assert _escalate(clock, [([stubborn], 10.0)]) == set()
    assert stubborn.sent() == [signal.SIGTERM, signal.SIGKILL]
    (term_at, _), (kill_at, _) = stubborn.signals
    assert term_at == 0.0
    assert 10.0 <= kill_at < 10.05, "KILL at the end of the grace, not before and not much after"


@pytest.mark.timeout(10)
def test_a_process_that_ends_on_term_is_never_killed_and_nobody_waits_for_the_grace() -> None:
    clock = FakeClock()
    polite = FakeProcess(clock, 102, on_term=0.3)
    called: list[str] = []
    assert _escalate(clock, [([polite], 10.0)], killed_all=lambda: called.append("x")) == set()
    assert polite.sent() == [signal.SIGTERM]
    assert 0.3 <= clock.now < 0.4, "returns as soon as the process is gone"
    assert called == [], "killed_all runs only after a KILL"


@pytest.mark.timeout(10)
def test_groups_are_stopped_together_each_killed_at_its_own_deadline() -> None:
    clock = FakeClock()
    quick, slow, polite = FakeProcess(clock, 201), FakeProcess(clock, 202), FakeProcess(clock, 203, on_term=0.1)
    called: list[float] = []
    left = _escalate(clock, [([quick], 2.0), ([slow, polite], 5.0)], killed_all=lambda: called.append(clock.now))
    assert left == set()
    assert next(t for t, s in quick.signals if s == signal.SIGKILL) == pytest.approx(2.0, abs=0.05)
    assert next(t for t, s in slow.signals if s == signal.SIGKILL) == pytest.approx(5.0, abs=0.05)
    assert polite.sent() == [signal.SIGTERM]
    assert clock.now < 5.5, "one grace in all (the longest), not the sum of them"
    assert len(called) == 1 and called[0] == pytest.approx(5.0, abs=0.05), "once, after the last KILL"


@pytest.mark.timeout(10)
def test_waiting_on_a_hundred_stubborn_agents_reads_one_process_a_poll() -> None:
    clock = FakeClock()
    stubborn = [FakeProcess(clock, 400 + i) for i in range(100)]
    procs = FakeProcesses(stubborn)
    polls = 0
    sleep = clock.sleep

    def counted(seconds: float) -> None:
        nonlocal polls
        polls += clock.now < 10.0
        sleep(seconds)

    clock.sleep = counted  # type: ignore[method-assign]
    left = terminate.escalate(procs, clock, [({p.pid: 0.0}, 10.0) for p in stubborn])  # type: ignore[arg-type]
    assert left == set()
    assert all(p.sent() == [signal.SIGTERM, signal.SIGKILL] for p in stubborn)
    before_kill = [t for t in procs.looks if t < 10.0]
    assert polls > 100, "the wait polls"
    assert len(before_kill) <= polls + 1, f"{len(before_kill)} reads in {polls} polls: one a poll, not one per agent"


@pytest.mark.timeout(10)
def test_agents_that_end_on_term_one_by_one_end_the_wait_when_the_last_one_has() -> None:
    clock = FakeClock()
    polite = [FakeProcess(clock, 500 + i, on_term=0.1 * (10 - i)) for i in range(10)]  # the first ends last
    assert _escalate(clock, [([p], 10.0) for p in polite]) == set()
    assert all(p.sent() == [signal.SIGTERM] for p in polite)
    assert 1.0 <= clock.now < 1.1, "returns as soon as the last one is gone"


@pytest.mark.timeout(10)
def test_a_process_that_survives_kill_is_reported_after_the_kill_wait() -> None:
    clock = FakeClock()
    unkillable = FakeProcess(clock, 301, on_kill=None)
    assert _escalate(clock, [([unkillable], 1.0)]) == {301}
    assert clock.now == pytest.approx(1.0 + KILL_WAIT_SECONDS, abs=0.05)


@pytest.mark.timeout(10)
def test_wait_gone_gives_up_at_its_timeout_on_the_injected_clock() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        clock = FakeClock()
        gateway = ProcessGateway()
        started = gateway.identity(child.pid)
        assert started is not None
        began = time.monotonic()
        assert terminate.wait_gone(gateway, clock, {child.pid: started}, 30.0) == {child.pid}
        assert time.monotonic() - began < 2.0 and clock.now >= 30.0
        assert child.poll() is None, "waiting signals nothing"
    finally:
        child.kill()
        child.wait()


@pytest.mark.timeout(20)
def test_find_env_finds_a_carrier_and_reads_nothing_it_is_told_to_skip() -> None:
    run = uuid.uuid4().hex
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], env={**os.environ, "FLEET_RUN": run}
    )
    try:
        gateway = ProcessGateway()
        table = gateway.scan()
        since = table.procs[child.pid].start_time
        assert gateway.find_env("FLEET_RUN", {run}, table, since) == {run: [child.pid]}
        assert gateway.find_env("FLEET_RUN", {run}) == {run: [child.pid]}
        assert gateway.find_env("FLEET_RUN", {run}, table, since, skip={child.pid}) == {}
        assert gateway.find_env("FLEET_RUN", {"another-run"}, table, since) == {}
        # without a table, each process's own start time decides: the carrier is found after
        # `since`, and passed over when it started (well) before it
        assert gateway.find_env("FLEET_RUN", {run}, since=since) == {run: [child.pid]}
        assert gateway.find_env("FLEET_RUN", {run}, since=since + 60) == {}
        # `within` (a cgroup's list): only those processes are read
        assert gateway.find_env("FLEET_RUN", {run}, within={child.pid}) == {run: [child.pid]}
        assert gateway.find_env("FLEET_RUN", {run}, within={os.getpid()}) == {}
    finally:
        child.kill()
        child.wait()
