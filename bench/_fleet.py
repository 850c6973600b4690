"""Shared scaffolding for the bench scripts: a throwaway fleet on its own socket and state dir."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TCP_AGENT = BENCH / "agents" / "tcp_agent.py"


def fleetctl(config: Path, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "fleetctl", "-c", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if check and proc.returncode not in (0, 3):
        raise RuntimeError(f"fleetctl {' '.join(args)} exited {proc.returncode}: {proc.stdout}{proc.stderr}")
    return proc.stdout


@contextlib.contextmanager
def throwaway_fleet(name: str, body: str, supervisor: bool = False) -> Iterator[Path]:
    """A fleet file in a temp dir; on exit: down, kill its tmux server, kill anything left with its name."""
    directory = Path(tempfile.mkdtemp(prefix=f"fleetbench-{name}-"))
    config = directory / "fleet.toml"
    header = f'[fleet]\nname = "{name}"\nsupervisor = {"true" if supervisor else "false"}\n'
    config.write_text(header + textwrap.dedent(body))
    try:
        yield config
    finally:
        fleetctl(config, "down", check=False)
        subprocess.run(["tmux", "-L", f"fleetctl-{name}", "kill-server"], capture_output=True, check=False)
        for pid in pids_with_env("FLEET_NAME", name):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(directory, ignore_errors=True)


def pids_with_env(key: str, value: str) -> list[int]:
    needle = f"{key}={value}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(entry))
    return found


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def wait(condition: Callable[[], bool], timeout: float, step: float = 0.002) -> float:
    """Seconds until condition() held (raises at the deadline)."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("condition not met")
        time.sleep(step)
    return time.perf_counter() - start


def summary(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def print_table(headers: list[str], rows: list[list[object]]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
