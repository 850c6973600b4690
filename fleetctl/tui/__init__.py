"""The Textual TUI (`fleetctl tui`). Import it only from the `tui` command: Textual is slow to import."""

from __future__ import annotations
