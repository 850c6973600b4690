"""The wake FIFO: a wake-up written before a pass looks is answered by that pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetctl import wake

pytestmark = pytest.mark.timeout(10)


def test_a_wake_up_wakes_the_waiter_once(tmp_path: Path) -> None:
    waiter = wake.Waiter(tmp_path / wake.FIFO_NAME)
    try:
        assert not waiter.wait(0)
        wake.notify(waiter.path)
        wake.notify(waiter.path)
        assert waiter.wait(1.0)
        assert not waiter.wait(0)  # both bytes were read: no second wake for the same news
    finally:
        waiter.close()


def test_drain_forgets_wake_ups_a_pass_is_about_to_see(tmp_path: Path) -> None:
    waiter = wake.Waiter(tmp_path / wake.FIFO_NAME)
    try:
        wake.notify(waiter.path)  # the run's wrapper
        wake.notify(waiter.path)  # tmux's pane-died hook, a moment later
        waiter.drain()  # the pass starts here and sees the death
        assert not waiter.wait(0)
        wake.notify(waiter.path)  # news after the pass began is kept
        assert waiter.wait(0)
    finally:
        waiter.close()
