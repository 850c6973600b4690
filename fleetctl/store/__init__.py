"""The fleet's state database: `StateStore` for the commands; repairs in fleetctl.store.repair.

Modules: db (the file, its permissions, its errors), schema, rows (rows to records), one
query module per subject (runs, tasks, messages, ops), state (StateStore composing them),
repair (integrity check and salvage).
"""

from __future__ import annotations

from fleetctl.statedir import state_dir_warning
from fleetctl.store.schema import SCHEMA_VERSION
from fleetctl.store.state import DB_NAME, LOCK_NAME, StateStore
from fleetctl.store.tasks import KeyConflict, NewTask

__all__ = [
    "DB_NAME",
    "LOCK_NAME",
    "SCHEMA_VERSION",
    "KeyConflict",
    "NewTask",
    "StateStore",
    "state_dir_warning",
]
