"""Reading an agent's pane logs: the last lines across rotations and runs, and following them.

Logs live at `<state_dir>/logs/<agent>/<run_id>.log`; rotation renames a full file to
`<run_id>.log.<epoch_ms>` and a new run starts a new file. A follower holds the segment it
reads open (a rename does not disturb it) and, once that segment has a successor (a later
rotated segment, the run's new live file, or a newer run), drains it and moves on in order.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from fleetctl.record import record

FOLLOW_MIN_SLEEP_SECONDS = 0.05
FOLLOW_MAX_SLEEP_SECONDS = 0.5
# A line without its newline yet (a prompt) is shown once the file has been quiet this long.
PARTIAL_FLUSH_SECONDS = 0.3
READ_CHUNK_BYTES = 65536
RENDER_LINES_FACTOR = 4
# After the followed file is renamed or superseded, keep reading it until it has been quiet
# this long: the old pipe drains its last bytes into it after the re-point, later on a busy machine.
SWITCH_GRACE_SECONDS = 0.3


@record
class Segment:
    """One log file: run `run`, rotated at `rotated_ms` (None: the run's live file)."""

    path: Path
    run: str
    rotated_ms: int | None
    inode: int
    mtime: float

    @property
    def order(self) -> float:
        return float("inf") if self.rotated_ms is None else float(self.rotated_ms)


def segments(directory: Path) -> list[Segment]:
    """Every log segment of one agent in the order it was written: runs by their last write,
    and within a run the rotated segments by rotation time, then the live file."""
    found: list[Segment] = []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return []
    for path in entries:
        run, sep, suffix = path.name.partition(".log")
        if not sep or (suffix and not (suffix.startswith(".") and suffix[1:].isdigit())):
            continue
        try:
            st = path.stat()
        except OSError:
            continue
        found.append(
            Segment(
                path=path, run=run, rotated_ms=int(suffix[1:]) if suffix else None, inode=st.st_ino, mtime=st.st_mtime
            )
        )
    last_write: dict[str, float] = {}
    for seg in found:
        last_write[seg.run] = max(last_write.get(seg.run, 0.0), seg.mtime)
    return sorted(found, key=lambda s: (last_write[s.run], s.run, s.order))


def log_files(directory: Path) -> list[Path]:
    """Every log file of one agent, oldest first."""
    return [s.path for s in segments(directory)]


def newest_log(directory: Path) -> Path | None:
    live = [s.path for s in segments(directory) if s.rotated_ms is None]
    return live[-1] if live else None


def _next_segment(directory: Path, run: str, after_ms: int, inode: int) -> Segment | None:
    """What to read after the segment with this inode: the run's next rotated segment, its
    live file, or a newer run's first segment; None while the current one is still the newest."""
    segs = segments(directory)
    same = [s for s in segs if s.run == run and s.inode != inode and (s.rotated_ms is None or s.rotated_ms > after_ms)]
    if same:
        return same[0]
    if segs and segs[-1].run != run:
        newest = segs[-1].run
        return next(s for s in segs if s.run == newest)
    return None


def _read_back(f: BinaryIO, end: int, lines: int) -> bytes:
    """The bytes before `end` holding at least `lines` complete lines (or the whole file)."""
    start = end
    data = b""
    while start > 0 and data.count(b"\n") <= lines:
        step = min(READ_CHUNK_BYTES, start)
        start -= step
        f.seek(start)
        data = f.read(step) + data
    return data


def tail(directory: Path, lines: int, newest: tuple[BinaryIO, int] | None = None) -> bytes:
    """The last `lines` lines the agent printed, reading back through older segments as needed.

    With `newest` (an open handle on the newest log and an offset), the tail ends exactly
    there, so a follower can continue from that offset without losing or repeating a byte
    even if the file is rotated meanwhile.
    """
    if lines <= 0:
        return b""
    chunks: list[bytes] = []
    count = 0
    files = log_files(directory)
    if newest is not None:
        handle, end = newest
        st = os.fstat(handle.fileno())
        files = [s.path for s in segments(directory) if s.inode != st.st_ino and s.mtime <= st.st_mtime]
        data = _read_back(handle, end, lines)
        chunks.append(data)
        count += data.count(b"\n")
    for path in reversed(files):
        if count > lines:
            break
        try:
            with path.open("rb") as f:
                data = _read_back(f, f.seek(0, os.SEEK_END), lines - count)
        except OSError:
            continue
        chunks.insert(0, data)
        count += data.count(b"\n")
    text = b"".join(chunks)
    body = text[:-1] if text.endswith(b"\n") else text
    keep = b"\n".join(body.split(b"\n")[-lines:])
    return keep + b"\n" if text.endswith(b"\n") else keep


def rendered_tail(directory: Path, lines: int, columns: int | None = None, color: bool = False) -> list[str]:
    """The last `lines` lines of the agent's output as its screen showed them (screentext):
    spinner frames collapsed, control sequences acted on rather than printed, blank lines kept
    only between text. Reads back RENDER_LINES_FACTOR times as many raw lines, since one screen
    line may have been drawn by many."""
    from fleetctl import screentext

    if lines <= 0:
        return []
    data = tail(directory, lines * RENDER_LINES_FACTOR)
    shown = screentext.render(data, columns or screentext.DEFAULT_COLUMNS, color=color)
    while shown and not shown[0].strip():
        shown.pop(0)
    return shown[-lines:]


def follow(
    directory: Path,
    lines: int = 0,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
    switch_grace: float = SWITCH_GRACE_SECONDS,
) -> Iterator[bytes]:
    """Yield the last `lines` lines, then bytes as they are appended to the agent's log,
    segment after segment across rotations and new runs, without losing or repeating any
    (unless the follower falls behind by more than log_keep segments).

    Sleeps between empty reads with a back-off (50 ms up to 500 ms), never a busy loop.
    Complete lines are yielded at once; a partial line after PARTIAL_FLUSH_SECONDS quiet.
    """
    reader = _Reader(directory)
    first = reader.start(lines)
    if first:
        yield first
    pending = b""
    delay = FOLLOW_MIN_SLEEP_SECONDS
    quiet_since = time.monotonic()
    switch_at = 0.0
    try:
        while not should_stop():
            data = reader.read()
            if data:
                pending += data
                cut = pending.rfind(b"\n") + 1
                if cut:
                    yield pending[:cut]
                    pending = pending[cut:]
                delay = FOLLOW_MIN_SLEEP_SECONDS
                quiet_since = time.monotonic()
                switch_at = 0.0  # the old pipe still writes: the grace counts from its last byte
                continue
            if pending and time.monotonic() - quiet_since >= PARTIAL_FLUSH_SECONDS:
                yield pending
                pending = b""
            following = reader.next_segment()
            if following is not None:
                # Bytes may still land in the old file until its pipe is re-pointed and has
                # drained: keep reading it until it has been quiet for the grace, then switch.
                switch_at = switch_at or time.monotonic() + switch_grace
                if time.monotonic() >= switch_at:
                    switch_at = 0.0
                    if pending:
                        yield pending
                        pending = b""
                    reader.switch(following)
                    continue
            sleep(delay)
            delay = min(delay * 2, FOLLOW_MAX_SLEEP_SECONDS)
    finally:
        reader.close()


class _Reader:
    """The open segment being followed, and where it sits in the segment order."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.handle: BinaryIO | None = None
        self.run = ""
        self.after_ms = 0
        self.inode = -1

    def start(self, lines: int) -> bytes:
        """Open the newest live file at its end; return the tail that ends exactly there."""
        segs = segments(self.directory)
        if not segs:
            return b""
        live = [s for s in segs if s.rotated_ms is None]
        seg = live[-1] if live else segs[-1]
        self.run = seg.run
        self.after_ms = max((s.rotated_ms or 0 for s in segs if s.run == seg.run), default=0)
        self.switch(seg)
        if self.handle is None:
            return tail(self.directory, lines)
        end = os.fstat(self.handle.fileno()).st_size
        text = tail(self.directory, lines, (self.handle, end))
        self.handle.seek(end)
        return text

    def read(self) -> bytes:
        if self.handle is None:
            segs = segments(self.directory)
            if not segs:
                return b""
            newest = segs[-1].run
            self.switch(next(s for s in segs if s.run == newest))  # appeared after we started: from its start
            if self.handle is None:
                return b""
        return self.handle.read(READ_CHUNK_BYTES)

    def next_segment(self) -> Segment | None:
        if self.handle is None:
            return None
        return _next_segment(self.directory, self.run, self.after_ms, self.inode)

    def switch(self, seg: Segment) -> bool:
        """Read `seg` from its start; False (still on the old one) if it changed meanwhile.

        After a live file, the next segment is one rotated later than any that exists now:
        every earlier one has been read (one of them was the file just finished).
        """
        try:
            handle = seg.path.open("rb")
        except OSError:
            return False
        inode = os.fstat(handle.fileno()).st_ino
        if inode != seg.inode:  # rotated between listing and opening: list again
            handle.close()
            return False
        self.close()
        if seg.run != self.run:
            self.after_ms = 0
        self.handle, self.run, self.inode = handle, seg.run, inode
        if seg.rotated_ms is not None:
            self.after_ms = seg.rotated_ms
        else:
            rotated = [s.rotated_ms for s in segments(self.directory) if s.run == seg.run and s.rotated_ms]
            self.after_ms = max([self.after_ms, *rotated])
        return True

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
