"""Time, as the runtime reads and waits on it: one Clock passed in, so tests can use a fake.

Every wait and poll of the runtime (the TERM -> KILL escalation, a log settling, `up`
waiting for verification) goes through `sleep` and measures with `monotonic`; records
carry `time` (wall clock, epoch seconds). fleetctl.testing has a FakeClock.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: for deadlines and durations."""
        ...

    def time(self) -> float:
        """Wall-clock epoch seconds: for what is recorded and shown."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait this long (the fake one only moves its time forward)."""
        ...


class SystemClock:
    """The machine's clocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
