"""TUI test helpers: a fixed time zone (timestamps on screen) and deadline-bounded waits."""

from __future__ import annotations

import asyncio
import functools
import io
import os
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from rich.console import Console
from textual.app import App
from textual.pilot import Pilot


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def until(pilot: Pilot[object], condition: Callable[[], object], timeout: float = 10.0, what: str = "") -> object:
    """Let the app run until condition() is truthy; fail at the deadline (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
        await pilot.pause(0.05)


async def settle(pilot: Pilot[object], timeout: float = 10.0) -> None:
    """Wait for the observe and detail workers, the messages they post, and the focus that the
    screen gives on mount (a loaded machine can take a snapshot before it otherwise).

    The log view's follower runs until its screen closes: it is not waited for.
    """
    deadline = time.monotonic() + timeout

    async def workers_done() -> None:
        waited = [w for w in pilot.app.workers if w.group != "log"]
        if waited:  # an empty list means "all of them" to wait_for_complete
            await pilot.app.workers.wait_for_complete(waited)

    for _ in range(3):
        await pilot.pause()
        await workers_done()
    while pilot.app.focused is None and time.monotonic() < deadline:
        await pilot.pause(0.01)
        await workers_done()
    await pilot.pause()


def screen_text(app: App[object]) -> str:
    """The screen as plain text, line by line, as a person reads it."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, record=True)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X") and os.path.exists(f"/proc/{pid}")


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on a fresh event loop (no asyncio plugin needed)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper
