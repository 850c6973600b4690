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

    def rotate(self, run: str, part: int) -> None:
        """The writer opens the run's next part (it never renames)."""
        path = self.dir / f"{run}.log.{part}"
        path.touch()
        self.clock += 1
        os.utime(path, (self.clock, self.clock))

    def rename(self, run: str, ms: int) -> None:
        """What the old rotation did: rename the live file aside and start it again."""
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


def test_follow_parts_prunes_and_new_runs_lose_and_repeat_nothing(tmp_path: Path) -> None:
    s = Script(tmp_path)
    s.write("r1.log", 10)
    s.steps = [
        lambda: s.write("r1.log", 5),
        lambda: s.write("r1.log.1", 3),  # the writer went on in the next part
        lambda: s.write("r1.log.1", 4),
        lambda: (s.write("r1.log.2", 4), s.write("r1.log.3", 1)),  # two parts before the follower looks again
        lambda: (tmp_path / "r1.log").unlink(),  # pruned (log_keep)
        lambda: s.write("r1.log.3", 6),
        lambda: s.write("r2.log", 7),  # a new run
        lambda: s.write("r2.log", 2),
    ]
    got = collect(tmp_path, s, lines=3)
    assert got == [f"line {i}" for i in range(7, s.n)]


def test_tail_reads_back_through_segments(tmp_path: Path) -> None:
    s = Script(tmp_path)
    s.write("r1.log", 3)
    s.write("r1.log.1", 2)
    s.write("r2.log", 2)
    assert logview.tail(tmp_path, 5).decode().splitlines() == [f"line {i}" for i in range(2, 7)]
    assert logview.tail(tmp_path, 100).decode().count("\n") == 7
    assert logview.tail(tmp_path / "missing", 5) == b""
    assert [p.name for p in logview.log_files(tmp_path)] == ["r1.log", "r1.log.1", "r2.log"]


def test_parts_renamed_by_the_old_rotation_come_before_their_live_file(tmp_path: Path) -> None:
    s = Script(tmp_path)
    s.write("r1.log", 3)
    s.rename("r1", 1_700_000_000_000)
    s.write("r1.log", 2)
    assert [p.name for p in logview.log_files(tmp_path)] == ["r1.log.1700000000000", "r1.log"]
    assert logview.tail(tmp_path, 4).decode().splitlines() == [f"line {i}" for i in range(1, 5)]


def test_the_end_of_run_marker_is_not_shown(tmp_path: Path) -> None:
    (tmp_path / "r1.log").write_bytes(b"last words\n\x1b]9999;fleetctl-end\x07")
    assert logview.tail(tmp_path, 1) == b"last words\n"


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


def test_follow_reads_the_last_write_to_a_part_made_as_its_successor_opened(tmp_path: Path) -> None:
    """The writer wrote its last read to a part just before opening the next: the follower,
    seeing the successor, reads the old part once more (the grace) before it switches."""
    s = Script(tmp_path)
    s.write("r1.log", 2)
    s.steps = [lambda: s.rotate("r1", 1), lambda: s.write("r1.log", 1), lambda: s.write("r1.log.1", 3)]
    deadline: list[float] = []

    def stop() -> bool:
        if s.steps:
            return False
        deadline.append(deadline[0] if deadline else time.monotonic() + 1.0)
        return time.monotonic() > deadline[0]

    out = b"".join(logview.follow(tmp_path, 1, should_stop=stop, sleep=s.sleep, switch_grace=0.3))
    assert out.decode().splitlines() == [f"line {i}" for i in range(1, s.n)]
