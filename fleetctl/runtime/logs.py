"""Run logs: each run's pane is piped to logs/<agent>/<run>.log. Tails, rotation, pruning."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from shlex import quote

from fleetctl.model import AgentRecord, AgentSpec, Observation
from fleetctl.redact import redact
from fleetctl.runtime.context import Runtime

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\r")
OUTPUT_TAIL_LINES = 5
CLASSIFY_LINES = 40
LOG_SETTLE_SECONDS = 0.25
LOG_QUIET_SECONDS = 0.02
_TAIL_BYTES = 16384


def strip_ansi(text: str) -> str:
    return _ANSI_RE.sub("", text)


def rendered(data: bytes) -> list[str]:
    """Output as the screen showed it: bytes with escapes or carriage returns are played through
    a terminal emulator (spinner frames collapse, cursor moves act); plain text is split as is."""
    if b"\x1b" not in data and b"\r" not in data:
        return data.decode("utf-8", "replace").splitlines()
    from fleetctl import screentext

    return screentext.render(data)


def mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def pipe_command(path: Path) -> str:
    """The pipe-pane command that appends a pane's output to this log."""
    return f"exec cat >> {quote(str(path))}"


def output_tail(rt: Runtime, agent: str, run_id: str | None = None, lines: int = OUTPUT_TAIL_LINES) -> str:
    """The last lines an agent's run printed, from its log (no tmux call), ANSI stripped."""
    path = latest_log(rt, agent) if run_id is None else rt.log_path(agent, run_id)
    if path is None:
        return ""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - _TAIL_BYTES))
            data = f.read()
    except OSError:
        return ""
    text = [line.rstrip() for line in rendered(data)]
    text = [line for line in text if line.strip()]
    return redact("\n".join(text[-lines:]), rt.secrets)


def latest_log(rt: Runtime, agent: str) -> Path | None:
    directory = rt.logs_dir / agent
    try:
        logs = [p for p in directory.iterdir() if p.name.endswith(".log")]
    except OSError:
        return None
    return max(logs, key=lambda p: p.stat().st_mtime, default=None)


def last_output(rt: Runtime, agent: str, run_id: str, settle: bool) -> str:
    """What a run printed last, for classifying its end.

    Taken from the run's log, not the pane: tmux 3.3a keeps no screen content for a
    pane whose process exited at once, while its pipe still gets every byte. The pipe's
    shell and `cat` can trail the pane's death by a moment (the file may not even exist
    yet), so with `settle` wait until the log exists and has been quiet for
    LOG_QUIET_SECONDS (at most LOG_SETTLE_SECONDS). Callers settle for runs that exited
    by themselves (they may have said why); a signal death is classified at once.
    """
    path = rt.log_path(agent, run_id)
    clock = rt.clock
    deadline = clock.monotonic() + (LOG_SETTLE_SECONDS if settle else 0.0)
    last = -2
    while clock.monotonic() < deadline:
        try:
            size = path.stat().st_size
        except OSError:
            size = -1
        if size >= 0 and size == last:
            break
        last = size
        clock.sleep(LOG_QUIET_SECONDS)
    return output_tail(rt, agent, run_id, CLASSIFY_LINES)


def maintain(rt: Runtime, obs: Observation, records: dict[str, AgentRecord]) -> None:
    """Rotate logs past log_max_size and re-create deleted ones.

    The pane's pipe is re-pointed with pipe-pane, so bytes already in the old pipe land in the
    old file. Not quite lossless: on a loaded machine a line has gone missing from the files
    at the re-point (most likely bytes tmux had read but not yet written to the old pipe).
    """
    for spec in rt.spec.agents:
        record, agent = records.get(spec.name), obs.agents.get(spec.name)
        run = record.current if record else None
        if run is None or not run.live or agent is None or not agent.alive:
            continue
        path = rt.log_path(spec.name, run.id)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = -1
        if 0 <= size < spec.log_max_size:
            continue
        if size >= 0:
            with contextlib.suppress(FileNotFoundError):  # deleted since the stat: just re-create it
                path.rename(path.with_name(f"{path.name}.{int(rt.now() * 1000)}"))
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.touch(mode=0o600)
        rt.tmux.repipe(agent.pane.pane_id, pipe_command(path))
        prune(rt, spec)


def prune(rt: Runtime, spec: AgentSpec, keep: int | None = None) -> None:
    """Keep the newest log_keep logs of an agent (or `keep`), rotated parts included."""
    directory = rt.logs_dir / spec.name
    files = sorted((p for p in directory.iterdir() if ".log" in p.name), key=mtime)
    for old in files[: max(0, len(files) - (spec.log_keep if keep is None else keep))]:
        with contextlib.suppress(OSError):
            old.unlink()
