from __future__ import annotations

from fleetctl.cli import entry

entry()
