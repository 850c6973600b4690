"""Importing this registers every command on the root group."""

from __future__ import annotations

from fleetctl.cli import lifecycle, misc, ops, status, tasks, tui

__all__ = ["lifecycle", "misc", "ops", "status", "tasks", "tui"]
