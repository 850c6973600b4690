"""Run logs: each run's pane is piped to a writer that owns logs/<agent>/<run>.log.

The writer is Apache's `rotatelogs`, a small C program (bench/log_writer_bench.py, 100
agents: 0.16 MB PSS per pane against 0.12 MB for the `cat` it replaced; the fleet's total
41.7 MB against 37.7 MB). It appends, and past log_max_size it opens
`<run>.log.1`, `.2`, … itself, so the pane's pipe is never re-pointed and no line is lost.
At each file it opens it runs the prune program, which leaves the agent log_keep - 1 files,
the new one included. So at any moment an agent has at most log_keep log files (the one
being written and, for the prune's few ms, the one before it) and disk use stays within
log_max_size x log_keep, plus one read (at most 64 KB) per file. With log_keep = 1 the
writer truncates its one file instead.

The wrapper prints END_MARKER (an OSC sequence terminals and tmux ignore) once the command
has ended, so a run is judged only after the writer has its last line.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from shlex import quote

from fleetctl.errors import OperationFailed
from fleetctl.logview import END_MARKER
from fleetctl.model import AgentRecord, AgentSpec, Observation
from fleetctl.redact import redact
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.events import emit

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\r")
OUTPUT_TAIL_LINES = 5
CLASSIFY_LINES = 40
# How long a run that ended by itself may wait for the writer to have its last line; past
# it the run is judged on what is there and an event says so.
LOG_END_TIMEOUT_SECONDS = 5.0
LOG_POLL_SECONDS = 0.01
WRITER = "rotatelogs"
WRITER_HINT = (
    "install Apache's rotatelogs: apt install apache2-utils (Debian, Ubuntu), dnf install httpd-tools (Fedora);"
    " macOS has it"
)
# rotatelogs numbers its files .1, .2, … and would start again at the base name after this
# many; the prune program deletes old ones long before.
_MAX_PARTS = 100_000_000
_TAIL_BYTES = 16384
PRUNE_PROGRAM = "fleet-logprune"
# Run by rotatelogs with the file it just opened: keep the agent's newest $FLEET_LOG_KEEP
# logs. Other runs' logs go first, oldest write first, then this run's parts by number.
# Nothing to do at a run's first file (logs.prune ran as its window was made): exiting
# there saves the seven processes of a prune at every start.
_PRUNE_SCRIPT = r"""#!/bin/sh
cur=$1
dir=${cur%/*}
name=${cur##*/}
run=${name%%.log*}
[ "$name" = "$run.log" ] && exit 0  # a run's first file: its window's start pruned the older logs
cd "$dir" || exit 0
set -- $(ls -tr | grep -E '^[^.]+\.log(\.[0-9]+)?$' | grep -v "^$run\.") \
       $(ls | grep -E "^$run\.log(\.[0-9]+)?\$" | sort -t. -k3,3n)
n=$(($# - ${FLEET_LOG_KEEP:-5}))
while [ "$n" -gt 0 ]; do rm -f -- "$1"; shift; n=$((n - 1)); done
"""


def strip_ansi(text: str) -> str:
    return _ANSI_RE.sub("", text)


def rendered(data: bytes) -> list[str]:
    """Output as the screen showed it: bytes with escapes or carriage returns are played through
    a terminal emulator (spinner frames collapse, cursor moves act); plain text is split as is."""
    if b"\x1b" not in data and b"\r" not in data:
        return data.decode("utf-8", "replace").splitlines()
    from fleetctl import screentext

    return screentext.render(data.replace(END_MARKER, b""))


def load_renderer() -> None:
    """Render a carriage return once, so the terminal emulator is loaded (pyte: ~45 ms cold):
    output through a pty ends its lines with \\r\\n, so the first end judged would load it."""
    rendered(b"\r\n")


def mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def ensure_writer(rt: Runtime) -> Path:
    """The prune program in the state dir (written once), after checking the writer exists."""
    import shutil  # only starts need it: ~2 ms off every `status`

    if shutil.which(WRITER) is None:
        raise OperationFailed(f"{WRITER} was not found on PATH: fleetctl needs it to write agents' logs", WRITER_HINT)
    program = rt.spec.state_dir / "bin" / PRUNE_PROGRAM
    try:
        if program.read_text() == _PRUNE_SCRIPT:
            return program
    except OSError:
        pass
    program.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = program.with_name(f".{PRUNE_PROGRAM}.{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
    with os.fdopen(fd, "w") as f:
        f.write(_PRUNE_SCRIPT)
    os.replace(temp, program)
    return program


def pipe_command(rt: Runtime, spec: AgentSpec, path: Path) -> str:
    """The pipe-pane command: the writer appends the pane's output to `path` and its parts."""
    program = ensure_writer(rt)
    size = f"{quote(str(path))} {max(1, spec.log_max_size)}B"
    if spec.log_keep <= 1:
        return f"umask 077; exec {WRITER} -f -t {size}"
    keep = spec.log_keep - 1
    return f"umask 077; FLEET_LOG_KEEP={keep} exec {WRITER} -f -n {_MAX_PARTS} -p {quote(str(program))} {size}"


def older_logs_kept(spec: AgentSpec) -> int:
    """How many older log files may stay when a run starts (see the module's docstring)."""
    return max(0, spec.log_keep - 2)


def create(path: Path) -> Path:
    """A run's first log file, empty and private, before its writer opens it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    return path


def part_number(name: str, run_id: str) -> int | None:
    """Which part of the run's log a file name is (0: the base `<run>.log`), or None."""
    base = f"{run_id}.log"
    if name == base:
        return 0
    suffix = name[len(base) + 1 :]
    if name.startswith(base + ".") and suffix.isdigit():
        return int(suffix)
    return None


def run_parts(rt: Runtime, agent: str, run_id: str) -> list[Path]:
    """A run's log files in the order they were written (pruned ones are gone)."""
    directory = rt.logs_dir / agent
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    numbered = [(n, name) for name in names if (n := part_number(name, run_id)) is not None]
    return [directory / name for _, name in sorted(numbered)]


def _tail_bytes(parts: list[Path], limit: int = _TAIL_BYTES) -> bytes:
    """The last `limit` bytes written across a run's parts."""
    data = b""
    for path in reversed(parts):
        try:
            with path.open("rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - (limit - len(data))))
                data = f.read() + data
        except OSError:
            continue
        if len(data) >= limit:
            break
    return data


def output_tail(rt: Runtime, agent: str, run_id: str | None = None, lines: int = OUTPUT_TAIL_LINES) -> str:
    """The last lines an agent's run printed, from its log (no tmux call), ANSI stripped."""
    if run_id is None:
        latest = latest_log(rt, agent)
        if latest is None:
            return ""
        run_id = latest.name.partition(".log")[0]
    return _render_tail(rt, _tail_bytes(run_parts(rt, agent, run_id)), lines)


def _render_tail(rt: Runtime, data: bytes, lines: int) -> str:
    text = [line.rstrip() for line in rendered(data.replace(END_MARKER, b""))]
    text = [line for line in text if line.strip()]
    return redact("\n".join(text[-lines:]), rt.secrets)


def latest_log(rt: Runtime, agent: str) -> Path | None:
    directory = rt.logs_dir / agent
    try:
        logs = [p for p in directory.iterdir() if ".log" in p.name and ".gate." not in p.name]
    except OSError:
        return None
    return max(logs, key=mtime, default=None)


def last_output(rt: Runtime, agent: str, run_id: str, settle: bool) -> str:
    """What a run printed last, for classifying its end.

    Taken from the run's log, not the pane: tmux 3.3a keeps no screen content for a pane
    whose process exited at once, while its pipe still gets every byte. With `settle` (a run
    whose wrapper wrote an exit code: it printed END_MARKER just before), wait until the writer
    has that marker, at most LOG_END_TIMEOUT_SECONDS, and say so in an event when that passes.
    A signal death, or an end whose wrapper was killed, is judged at once: no marker comes.
    """
    clock = rt.clock
    deadline = clock.monotonic() + LOG_END_TIMEOUT_SECONDS
    while True:
        data = _tail_bytes(run_parts(rt, agent, run_id))
        if not settle or END_MARKER in data:
            break
        if clock.monotonic() >= deadline:
            emit(
                rt,
                "log-incomplete",
                agent,
                f"run {run_id} judged on its log as it was: the end of its output had not reached the log"
                f" after {LOG_END_TIMEOUT_SECONDS:g}s",
                {"run": run_id},
            )
            break
        clock.sleep(LOG_POLL_SECONDS)
    return _render_tail(rt, data, CLASSIFY_LINES)


def maintain(rt: Runtime, obs: Observation, records: dict[str, AgentRecord]) -> None:
    """Give a live run whose log files were all deleted a new writer (the old one writes to
    files that no longer have a name; the launcher creates the first, so none is "not yet").
    Rotation is the writer's own business."""
    for spec in rt.spec.agents:
        record, agent = records.get(spec.name), obs.agents.get(spec.name)
        run = record.current if record else None
        if run is None or not run.live or agent is None or not agent.alive or run_parts(rt, spec.name, run.id):
            continue
        path = create(rt.log_path(spec.name, run.id))
        rt.tmux.repipe(agent.pane.pane_id, pipe_command(rt, spec, path))


def prune(rt: Runtime, spec: AgentSpec, keep: int | None = None) -> None:
    """Keep the newest log_keep log files of an agent (or `keep`), run parts included."""
    directory = rt.logs_dir / spec.name
    try:
        files = [p for p in directory.iterdir() if ".log" in p.name and ".gate." not in p.name]
    except OSError:
        return
    files.sort(key=mtime)
    for old in files[: max(0, len(files) - (spec.log_keep if keep is None else keep))]:
        with contextlib.suppress(OSError):
            old.unlink()
