"""Following the event log without polling the database in a busy loop.

Every event is a committed write, and in WAL mode a commit grows or touches `fleet.db-wal`
(a checkpoint touches `fleet.db`). So the follower only stats those two files, backing off
from 50 ms to 1 s while nothing changes, and queries the store only after a change. The
wake FIFO is not used: the supervise loop reads it, and a second reader would steal its bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

from fleetctl.model import Event
from fleetctl.store import StateStore

MIN_SLEEP_SECONDS = 0.05
MAX_SLEEP_SECONDS = 1.0
# Query anyway this often, in case a change hid between two identical stats.
RESCAN_SECONDS = 5.0


def _stamp(path: Path) -> tuple[int, int, int]:
    try:
        st = path.stat()
    except OSError:
        return 0, 0, 0
    return st.st_ino, st.st_size, st.st_mtime_ns


def follow(
    store: StateStore,
    since: float,
    agent: str | None = None,
    after_id: int = 0,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Event]:
    """Yield events with id > after_id (and time >= since) as they are recorded, forever."""
    db, wal = store.path, store.path.with_name(store.path.name + "-wal")
    last_stamp: tuple[object, ...] | None = None
    delay = MIN_SLEEP_SECONDS
    last_query = 0.0
    while not should_stop():
        stamp = (_stamp(db), _stamp(wal))
        if stamp != last_stamp or time.monotonic() - last_query >= RESCAN_SECONDS:
            if stamp != last_stamp:
                delay = MIN_SLEEP_SECONDS
            last_stamp = stamp
            last_query = time.monotonic()
            if store.exists():
                store.check_same_file()
                events = store.events(since=since, agent=agent, after_id=after_id)
                for event in events:
                    after_id = max(after_id, event.id)
                    yield event
                if events:
                    continue
        sleep(delay)
        delay = min(delay * 2, MAX_SLEEP_SECONDS)
