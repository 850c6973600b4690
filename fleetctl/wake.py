"""A FIFO in the state dir that wakes the supervise loop at once.

tmux's pane-died hook, `task add` and `send` write a byte; the loop sleeps in select()
on it, so a quiet fleet costs no CPU while a crash is noticed within milliseconds.
Writers open it read-write (never blocks, even with no reader).
"""

from __future__ import annotations

import contextlib
import os
import select
import stat
from pathlib import Path

FIFO_NAME = "wake.fifo"


def ensure(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
        if stat.S_ISFIFO(mode):
            return
        path.unlink()  # a plain file left by a writer while the dir was being recreated
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkfifo(path, 0o600)


def notify(path: Path) -> None:
    """Wake the supervisor if one listens; never blocks, never fails the caller."""
    try:
        if not stat.S_ISFIFO(path.lstat().st_mode):
            return
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    except OSError:
        return
    try:
        with contextlib.suppress(BlockingIOError):
            os.write(fd, b"x")
    finally:
        os.close(fd)


class Waiter:
    """Holds the FIFO open for reading; wait() returns early when anyone writes."""

    def __init__(self, path: Path) -> None:
        ensure(path)
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)

    def refresh(self) -> None:
        """Reopen if the FIFO was replaced (the state dir was deleted and recreated)."""
        try:
            current = self.path.lstat().st_ino
        except FileNotFoundError:
            ensure(self.path)
            current = self.path.lstat().st_ino
        if current != os.fstat(self.fd).st_ino:
            os.close(self.fd)
            ensure(self.path)
            self.fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)

    def wait(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if ready:
            self.drain()
            return True
        return False

    def drain(self) -> None:
        """Forget the wake-ups written so far. Called just before a pass looks at the fleet: what
        they announced is in what it sees. One death writes two (the run's wrapper and tmux's
        pane-died hook, a few ms apart); unread, the second forced a pass of its own while the
        respawned agent was starting."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self.fd, 4096):
                pass

    def close(self) -> None:
        os.close(self.fd)
