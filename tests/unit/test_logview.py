from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from fleetctl import logview


class Script:
    """Steps run from the follower's sleep(): each writes, rotates or prunes like the fleet does."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.n = 0
        self.steps: list[Callable[[], None]] = []
        self.clock = 1_000.0

    def write(self, name: str, count: int) -> None:
        path = self.dir / name
        with path.open("ab") as f:
            for _ in range(count):
                f.write(f"line {self.n}\n".encode())
                self.n += 1
        self.clock += 1
        os.utime(path, (self.clock, self.clock))

    def rotate(self, run: str, ms: int) -> None:
        live = self.dir / f"{run}.log"
        live.rename(self.dir / f"{run}.log.{ms}")
        live.touch()
        self.clock += 1
        os.utime(live, (self.clock, self.clock))

    def sleep(self, _seconds: float) -> None:
        if self.steps:
            self.steps.pop(0)()
        time.sleep(0.005)


def collect(directory: Path, script: Script, lines: int, extra_seconds: float = 0.4) -> list[str]:
    deadline: list[float] = []

    def stop() -> bool:
        if script.steps:
            return False
        if not deadline:
            deadline.append(time.monotonic() + extra_seconds)
        return time.monotonic() > deadline[0]

    out = b"".join(logview.follow(directory, lines, should_stop=stop, sleep=script.sleep, switch_grace=0.02))
    return out.decode().splitlines()


def test_follow_rotations_prunes_and_new_runs_lose_and_repeat_nothing(tmp_path: Path) -> None:
    s = Script(tmp_path)
    s.write("r1.log", 10)
    s.steps = [
        lambda: s.write("r1.log", 5),
        lambda: s.rotate("r1", 2000),
        lambda: s.write("r1.log.2000", 3),  # in flight until the pipe is re-pointed
        lambda: s.write("r1.log", 4),
        lambda: s.rotate("r1", 3000),
        lambda: s.write("r1.log", 4),
        lambda: s.rotate("r1", 4000),  # two rotations before the follower looks again
        lambda: (tmp_path / "r1.log.2000").unlink(),  # pruned (log_keep)
        lambda: s.write("r1.log", 6),
        lambda: s.write("r2.log", 7),  # a new run
        lambda: s.write("r2.log", 2),
    ]
    got = collect(tmp_path, s, lines=3)
    assert got == [f"line {i}" for i in range(7, s.n)]


def test_tail_reads_back_through_segments(tmp_path: Path) -> None:
    s = Script(tmp_path)
    s.write("r1.log", 3)
    s.rotate("r1", 2000)
    s.write("r1.log", 2)
    s.write("r2.log", 2)
    assert logview.tail(tmp_path, 5).decode().splitlines() == [f"line {i}" for i in range(2, 7)]
    assert logview.tail(tmp_path, 100).decode().count("\n") == 7
    assert logview.tail(tmp_path / "missing", 5) == b""
    assert [p.name for p in logview.log_files(tmp_path)] == ["r1.log.2000", "r1.log", "r2.log"]


def test_follow_waits_for_a_log_that_does_not_exist_yet(tmp_path: Path) -> None:
    s = Script(tmp_path)
    s.steps = [lambda: None, lambda: s.write("r1.log", 3)]
    assert collect(tmp_path, s, lines=10) == ["line 0", "line 1", "line 2"]


def test_partial_line_is_shown_after_a_quiet_moment(tmp_path: Path) -> None:
    s = Script(tmp_path)
    s.write("r1.log", 1)
    s.steps = [lambda: (tmp_path / "r1.log").open("ab").write(b"prompt> ")]
    got = collect(tmp_path, s, lines=1)
    assert got == ["line 0", "prompt> "]


def test_follow_stays_on_a_rotated_file_while_its_old_pipe_still_writes(tmp_path: Path) -> None:
    """A loaded machine: the old pipe's last bytes trickle in for longer than the grace in all,
    each a short gap after the previous one. The follower switches only once the old file is quiet."""
    s = Script(tmp_path)
    s.write("r1.log", 2)
    idle = [lambda: None] * 3  # ~15 ms of the follower's sleeps between late writes
    late = [step for _ in range(6) for step in (lambda: s.write("r1.log.2000", 1), *idle)]
    s.steps = [lambda: s.rotate("r1", 2000), *late, lambda: s.write("r1.log", 3)]
    deadline: list[float] = []

    def stop() -> bool:
        if s.steps:
            return False
        deadline.append(deadline[0] if deadline else time.monotonic() + 0.5)
        return time.monotonic() > deadline[0]

    out = b"".join(logview.follow(tmp_path, 1, should_stop=stop, sleep=s.sleep, switch_grace=0.04))
    assert out.decode().splitlines() == [f"line {i}" for i in range(1, s.n)]
