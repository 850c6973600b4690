"""Reading an agent's pane logs: the last lines across rotations and runs, and following them.

Logs live at `<state_dir>/logs/<agent>/<run_id>.log`; rotation renames a full file to
`<run_id>.log.<epoch_ms>` and a new run starts a new file. Following therefore tracks
"the newest file of the agent" and switches when the file it reads is renamed, deleted
or superseded, after draining what was written to the old one.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

FOLLOW_MIN_SLEEP_SECONDS = 0.05
FOLLOW_MAX_SLEEP_SECONDS = 0.5
# A line without its newline yet (a prompt) is shown once the file has been quiet this long.
PARTIAL_FLUSH_SECONDS = 0.3
READ_CHUNK_BYTES = 65536
# After the followed file is renamed or superseded, keep reading it this long before switching.
SWITCH_GRACE_SECONDS = 0.2


def log_files(directory: Path) -> list[Path]:
    """Every log segment of one agent, oldest first (rotated segments before their live file)."""
    try:
        files = [p for p in directory.iterdir() if p.is_file() and ".log" in p.name]
    except OSError:
        return []
    return sorted(files, key=_order)


def _order(path: Path) -> tuple[float, int]:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    return mtime, 0 if not path.name.endswith(".log") else 1


def newest_log(directory: Path) -> Path | None:
    live = [p for p in log_files(directory) if p.name.endswith(".log")]
    return live[-1] if live else None


def tail(directory: Path, lines: int) -> bytes:
    """The last `lines` lines the agent printed, reading back through older segments as needed."""
    if lines <= 0:
        return b""
    chunks: list[bytes] = []
    count = 0
    for path in reversed(log_files(directory)):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        chunks.insert(0, data)
        count += data.count(b"\n")
        if count > lines:
            break
    text = b"".join(chunks)
    body = text[:-1] if text.endswith(b"\n") else text
    parts = body.split(b"\n")
    keep = b"\n".join(parts[-lines:])
    return keep + (b"\n" if text.endswith(b"\n") else b"") if keep or text else b""


def follow(
    directory: Path,
    start_at_end: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[bytes]:
    """Yield bytes as they are appended to the agent's newest log, across rotations and runs.

    Sleeps between empty reads with a back-off (50 ms up to 500 ms), never a busy loop.
    Complete lines are yielded at once; a partial line after PARTIAL_FLUSH_SECONDS quiet.
    """
    current: Path | None = None
    handle: BinaryIO | None = None
    pending = b""
    delay = FOLLOW_MIN_SLEEP_SECONDS
    quiet_since = time.monotonic()
    first = True
    switch_at = 0.0
    try:
        while not should_stop():
            if handle is None:
                current = newest_log(directory)
                if current is not None:
                    with contextlib.suppress(OSError):
                        handle = current.open("rb")
                        if first and start_at_end:
                            handle.seek(0, os.SEEK_END)
                first = False
            data = handle.read(READ_CHUNK_BYTES) if handle is not None else b""
            if data:
                pending += data
                cut = pending.rfind(b"\n") + 1
                if cut:
                    yield pending[:cut]
                    pending = pending[cut:]
                delay = FOLLOW_MIN_SLEEP_SECONDS
                quiet_since = time.monotonic()
                continue
            if pending and time.monotonic() - quiet_since >= PARTIAL_FLUSH_SECONDS:
                yield pending
                pending = b""
            if handle is not None and current is not None and _superseded(handle, current, directory):
                # Bytes may still land in the old file until its pipe is re-pointed: keep
                # draining it for a moment, then switch.
                switch_at = switch_at or time.monotonic() + SWITCH_GRACE_SECONDS
                if time.monotonic() >= switch_at:
                    handle.close()
                    handle, switch_at = None, 0.0
                    if pending:
                        yield pending
                        pending = b""
                    continue
            sleep(delay)
            delay = min(delay * 2, FOLLOW_MAX_SLEEP_SECONDS)
    finally:
        if handle is not None:
            handle.close()


def _superseded(handle: BinaryIO, path: Path, directory: Path) -> bool:
    """The file we read was renamed/deleted/replaced, or a newer run's log appeared."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return True
    if st.st_ino != os.fstat(handle.fileno()).st_ino:
        return True
    newest = newest_log(directory)
    return newest is not None and newest != path
