"""An agent that prints a little, then goes silent forever while holding its pipe open.

Like an agent waiting on an ssh child that keeps stdout: no output, no CPU, no I/O.
"""

from __future__ import annotations

import os
import subprocess
import sys


def main() -> None:
    name = os.environ.get("FLEET_AGENT", "hung")
    print(f"{name}: fetching the repository...", flush=True)
    # A child that inherits stdout and never writes: the pipe stays open, nothing moves.
    child = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(3600)"])
    child.wait()


if __name__ == "__main__":
    main()
