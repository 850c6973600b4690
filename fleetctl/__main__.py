from __future__ import annotations

from fleetctl.cli import entry

if __name__ == "__main__":
    entry()
