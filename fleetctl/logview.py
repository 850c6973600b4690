"""Reading an agent's pane logs: the last lines across parts and runs, and following them.

Logs live at `<state_dir>/logs/<agent>/<run_id>.log`; past log_max_size the writer goes on
in `<run_id>.log.1`, `.2`, … (logs from before that writer: rotated parts were renamed to
`<run_id>.log.<epoch_ms>` and the base file was the live one). A follower holds the segment
it reads open and, once that segment has a successor (the run's next part or a newer run),
drains it and moves on in order.
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
# After the followed file has a successor, read it once more before switching (the writer may
# have written its last read just before opening the successor).
SWITCH_GRACE_SECONDS = 0.05
# A suffix this large is an epoch in ms: a part renamed by the old rotation.
_RENAMED_SUFFIX = 10**12
# The run wrapper prints this once its command has ended (an OSC sequence that terminals and
# tmux ignore): a log that holds it has every byte the run printed.
END_MARKER = b"\x1b]9999;fleetctl-end\x07"


@record
class Segment:
    """One log file: part `index` of run `run` (parts are written in index order)."""

    path: Path
    run: str
    index: float
    inode: int
    mtime: float


def segments(directory: Path) -> list[Segment]:
    """Every log segment of one agent in the order it was written: runs by their last write,
    and within a run its parts in order."""
    found: list[Segment] = []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return []
    renamed: set[str] = set()
    for path in entries:
        run, sep, suffix = path.name.partition(".log")
        if not sep or (suffix and not (suffix.startswith(".") and suffix[1:].isdigit())):
            continue
        try:
            st = path.stat()
        except OSError:
            continue
        index = int(suffix[1:]) if suffix else 0
        if index >= _RENAMED_SUFFIX:
            renamed.add(run)
        found.append(Segment(path=path, run=run, index=index, inode=st.st_ino, mtime=st.st_mtime))
    for i, seg in enumerate(found):
        if seg.run in renamed and seg.index == 0:
            found[i] = Segment(path=seg.path, run=seg.run, index=float("inf"), inode=seg.inode, mtime=seg.mtime)
    last_write: dict[str, float] = {}
    for seg in found:
        last_write[seg.run] = max(last_write.get(seg.run, 0.0), seg.mtime)
    return sorted(found, key=lambda s: (last_write[s.run], s.run, s.index))


def log_files(directory: Path) -> list[Path]:
    """Every log file of one agent, oldest first."""
    return [s.path for s in segments(directory)]


def newest_log(directory: Path) -> Path | None:
    segs = segments(directory)
    return segs[-1].path if segs else None


def without_marker(data: bytes) -> bytes:
    """Log bytes as shown: the wrapper's end-of-run marker is fleetctl's, not the agent's."""
    return data.replace(END_MARKER, b"")


def _next_segment(directory: Path, run: str, index: float, inode: int) -> Segment | None:
    """What to read after the segment with this inode: the run's next part, or a newer run's
    first segment; None while the current one is still the newest."""
    segs = segments(directory)
    same = [s for s in segs if s.run == run and s.inode != inode and s.index > index]
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
    text = without_marker(b"".join(chunks))
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
            data = without_marker(reader.read())
            if data:
                pending += data
                cut = pending.rfind(b"\n") + 1
                if cut:
                    yield pending[:cut]
                    pending = pending[cut:]
                delay = FOLLOW_MIN_SLEEP_SECONDS
                quiet_since = time.monotonic()
                switch_at = 0.0  # still written: the grace counts from its last byte
                continue
            if pending and time.monotonic() - quiet_since >= PARTIAL_FLUSH_SECONDS:
                yield pending
                pending = b""
            following = reader.next_segment()
            if following is not None:
                # The writer may have written its last read here just before opening the
                # successor: read again until this one has been quiet for the grace, then switch.
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
        self.index = 0.0
        self.inode = -1

    def start(self, lines: int) -> bytes:
        """Open the newest segment at its end; return the tail that ends exactly there."""
        segs = segments(self.directory)
        if not segs:
            return b""
        self.switch(segs[-1])
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
        return _next_segment(self.directory, self.run, self.index, self.inode)

    def switch(self, seg: Segment) -> bool:
        """Read `seg` from its start; False (still on the old one) if it changed meanwhile."""
        try:
            handle = seg.path.open("rb")
        except OSError:
            return False
        inode = os.fstat(handle.fileno()).st_ino
        if inode != seg.inode:  # replaced between listing and opening: list again
            handle.close()
            return False
        self.close()
        self.handle, self.run, self.index, self.inode = handle, seg.run, seg.index, inode
        return True

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
