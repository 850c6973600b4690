"""fleetctl: a terminal-first fleet manager for long-running agents in tmux."""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
