"""fleetctl: a terminal-first fleet manager for long-running agents in tmux."""

from __future__ import annotations

__version__ = "0.1.0"
