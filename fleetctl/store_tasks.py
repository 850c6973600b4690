"""Kept so `from fleetctl.store_tasks import NewTask, KeyConflict` still works; the backlog's
queries live in fleetctl.store.tasks."""

from __future__ import annotations

from fleetctl.store.tasks import OPEN_STATES, KeyConflict, NewTask

__all__ = ["OPEN_STATES", "KeyConflict", "NewTask"]
