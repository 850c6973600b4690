"""An agent that works for a while, then crashes (exit 1), like a flaky CLI.

Usage: flaky_agent.py [SECONDS]   (how long it works before it crashes; default 30)
"""

from __future__ import annotations

import os
import sys
import time


def main() -> None:
    lifetime = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    name = os.environ.get("FLEET_AGENT", "flaky")
    print(f"{name}: working for {lifetime:g}s", flush=True)
    time.sleep(lifetime)
    print(f"{name}: Error: lost connection to the model API", flush=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
