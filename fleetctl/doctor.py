"""`fleetctl doctor`: prove each agent's command still starts, before anyone relies on it.

Each agent is booted by a second, throwaway Fleet: its own tmux server (socket
`fleetctl-doctor-<fleet>-<pid>`), its own temp state dir, no supervisor and no on_alert.
The spawn path is the real one (wrapper script, pipe-pane log, verification by the
planner through `Fleet.up`), so a pass means a real spawn would pass. The running fleet's
server, store, lock and processes are never touched; a port the running fleet (or anyone)
holds is swapped for a free one for the doctor run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fleetctl.model import AgentSpec, AgentState, FleetSpec, RestartPolicy, Run
from fleetctl.record import record, replace

if TYPE_CHECKING:
    from fleetctl.fleet import AgentStatus

# After verification the agent keeps running this long, so output printed just after
# start (a late Traceback) is still seen.
SETTLE_SECONDS = 0.5
CAPTURE_LINES = 500


@record
class Check:
    """One line of doctor's verdict."""

    name: str
    ok: bool
    detail: str
    reset_at: float | None = None  # a limited agent's key check: when the limit lifts (epoch seconds)

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"check": self.name, "ok": self.ok, "detail": self.detail}
        if self.reset_at is not None:
            out["reset_at"] = self.reset_at
        return out


# --- environment checks ----------------------------------------------------------------


_REPAIR = "`fleetctl store check` lists the damage, `fleetctl store recover` copies what is readable"


def check_tmux() -> Check:
    """Is tmux installed, and at least the version libtmux (and so fleetctl) supports?"""
    from libtmux import common, exc

    needed = f"fleetctl needs tmux >= {common.TMUX_MIN_VERSION}"
    try:
        version = common.get_version_str()
        recent = common.has_minimum_version(raises=False)
    except exc.TmuxCommandNotFound:
        return Check("tmux", False, f"tmux is not installed (no `tmux` on PATH); {needed}")
    except (exc.LibTmuxException, OSError, IndexError) as error:  # IndexError: `tmux -V` said no version
        return Check("tmux", False, f"cannot tell tmux's version ({error or '`tmux -V` said none'}); {needed}")
    if not recent:
        return Check("tmux", False, f"tmux {version} is too old; {needed}")
    return Check("tmux", True, f"tmux {version}")


def check_log_writer() -> Check:
    """Is the log writer (rotatelogs) installed? Without it no agent can start."""
    import shutil

    from fleetctl.runtime.logs import WRITER, WRITER_HINT

    path = shutil.which(WRITER)
    if path is None:
        return Check("log writer", False, f"{WRITER} is not installed (no `{WRITER}` on PATH); {WRITER_HINT}")
    return Check("log writer", True, path)


def check_state_dir(state_dir: Path) -> Check:
    try:
        st = state_dir.stat()
    except FileNotFoundError:
        return Check(
            name="state dir", ok=True, detail=f"{state_dir} does not exist yet (created with mode 0700 on first use)"
        )
    except OSError as exc:
        return Check(name="state dir", ok=False, detail=f"{state_dir}: {exc.strerror}")
    problems = []
    if st.st_uid != os.getuid():
        problems.append(f"owned by uid {st.st_uid}, not you (uid {os.getuid()})")
    mode = st.st_mode & 0o777
    if mode & 0o077:
        problems.append(f"mode {mode:04o}, expected 0700 (chmod 700 {state_dir})")
    if not os.access(state_dir, os.W_OK | os.X_OK):
        problems.append("not writable by you")
    if problems:
        return Check(name="state dir", ok=False, detail=f"{state_dir}: " + "; ".join(problems))
    return Check(name="state dir", ok=True, detail=f"{state_dir} (0700, yours)")


def check_lock(
    state_dir: Path, alive: Callable[[int], bool], holders: Callable[[Path], set[int] | None] | None = None
) -> Check:
    """Who holds the fleet lock. flock is released when its holder dies, so it cannot go stale;
    the pid written in the file is only who took it last. `holders` is the process gateway's
    flock_holders (read without taking the lock)."""
    path = state_dir / "lock"
    try:
        recorded_text = path.read_text().strip()
    except FileNotFoundError:
        return Check("lock", True, "never taken")
    except OSError as exc:
        return Check("lock", False, f"{path}: {exc.strerror}")
    if holders is None:
        from fleetctl.procs import ProcessGateway

        holders = ProcessGateway().flock_holders
    recorded = int(recorded_text) if recorded_text.isdigit() else None
    held = holders(path)
    last = ""
    if recorded is not None:
        last = f"last taken by pid {recorded} ({'alive' if alive(recorded) else 'exited'})"
    if held:
        who = ", ".join(str(p) for p in sorted(held))
        return Check(
            "lock", True, f"held now by pid {who} (a reconcile or supervise tick)" + (f"; {last}" if last else "")
        )
    if held is None:  # this system does not say who holds a flock
        return Check("lock", True, last or "taken before")
    return Check("lock", True, "free" + (f"; {last}" if last else ""))


def check_database(state_dir: Path, url: str | None = None) -> Check:
    if url is not None:
        return check_server_store(state_dir, url)
    path = state_dir / "fleet.db"
    if not path.exists():
        return Check(name="database", ok=True, detail=f"{path} does not exist yet")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        try:
            result = db.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as exc:
        return Check(name="database", ok=False, detail=f"{path}: unreadable ({exc}); {_REPAIR}")
    if result != "ok":
        return Check(name="database", ok=False, detail=f"{path}: quick_check says {result}; {_REPAIR}")
    return Check(name="database", ok=True, detail=f"{path} ok")


def check_server_store(state_dir: Path, url: str) -> Check:
    """The shared PostgreSQL store: reachable, migrated; its URL shown without a password."""
    from fleetctl.errors import StoreError
    from fleetctl.store import StateStore
    from fleetctl.store.url import masked

    store = StateStore(state_dir, url)
    try:
        counts = store.task_counts()
    except StoreError as exc:
        return Check(name="database", ok=False, detail=masked(exc.message))
    finally:
        store.close()
    return Check(name="database", ok=True, detail=f"{masked(url)} ok ({sum(counts.values())} tasks)")


UNMATCHED_LISTED = 10


def check_unmatched_tasks(spec: FleetSpec) -> Check | None:
    """Queued tasks no pool takes (their labels match no pool's): they would wait silently.

    None when the fleet has no pools (its backlog is for `task next`) or no store yet.
    """
    from fleetctl.store import StateStore
    from fleetctl.taskmatch import queued_unmatched, why_unmatched

    if not spec.pools or not (spec.store or (spec.state_dir / "fleet.db").exists()):
        return None
    store = StateStore(spec.state_dir, spec.store)
    try:
        count, ids = queued_unmatched(store, spec.pools, UNMATCHED_LISTED)
        lost = [t for t in (store.task(i) for i in ids) if t is not None]
    finally:
        store.close()
    if not count:
        return Check(name="tasks", ok=True, detail="every queued task has a pool that takes it")
    listed = "; ".join(why_unmatched(t, spec.pools) for t in lost)
    more = f"; and {count - len(lost)} more" if count > len(lost) else ""
    return Check(name="tasks", ok=False, detail=f"{count} queued task(s) no pool takes: {listed}{more}")


# --- agents ---------------------------------------------------------------------------


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            return True
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def doctor_spec(spec: FleetSpec, agents: Sequence[AgentSpec], state_dir: Path) -> tuple[FleetSpec, dict[str, str]]:
    """The throwaway fleet: same agents, never respawned, no alerts, no supervisor, free ports."""
    notes: dict[str, str] = {}
    changed = []
    for agent in agents:
        new = replace(agent, restart=RestartPolicy.NEVER, max_respawns=0, fallback=None)
        if agent.port is not None and port_in_use(agent.port):
            port = _free_port()
            command = re.sub(rf"(?<!\d){agent.port}(?!\d)", str(port), agent.command)
            health = re.sub(rf"(?<!\d){agent.port}(?!\d)", str(port), agent.health) if agent.health else None
            new = replace(new, port=port, command=command, health=health)
            notes[agent.name] = f"port {port} instead of {agent.port}, which is in use"
        changed.append(new)
    name = f"doctor-{spec.name}-{os.getpid()}"
    return replace(
        spec, name=name, state_dir=state_dir, agents=tuple(changed), pools=(), supervisor=False, on_alert=None
    ), notes


def check_agents(spec: FleetSpec, agents: Sequence[AgentSpec]) -> list[Check]:
    """Boot every agent on a throwaway server, verify, scan output, stop; one Check per agent."""
    from fleetctl import cgroups
    from fleetctl.fleet import Fleet
    from fleetctl.redact import redact
    from fleetctl.runtime.logs import strip_ansi

    if not agents:
        return []
    tmp = Path(tempfile.mkdtemp(prefix="fleetctl-doctor-"))
    os.chmod(tmp, 0o700)
    doc_spec, notes = doctor_spec(spec, agents, tmp / "state")
    fleet = Fleet(doc_spec, actor="doctor")
    names = [a.name for a in doc_spec.agents]
    try:
        failures = fleet.up(names)
        failed = {n: line for n in names for line in failures if line.startswith(f"{n}: ")}
        if len(failed) < len(names):
            time.sleep(SETTLE_SECONDS)  # an observation window, not a wait for a condition
        rows = {r.name: r for r in fleet.status(names)}
        records = fleet.store.records(since=0.0, names=names)
        panes = {p.window_name: p for p in (fleet.tmux.panes() or [])}
        checks = []
        for agent in doc_spec.agents:
            record = records.get(agent.name)
            run = record.current if record else None
            output = fleet.output_tail(agent.name, run.id if run else None, CAPTURE_LINES)
            pane = panes.get(agent.name)
            if pane is not None:
                output += "\n" + redact(strip_ansi(fleet.tmux.capture(pane.pane_id, CAPTURE_LINES)), fleet.secrets)
            checks.append(
                _verdict(agent, failed.get(agent.name), rows.get(agent.name), run, output, notes.get(agent.name))
            )
        return checks
    finally:
        with contextlib.suppress(Exception):
            fleet.down(names)
        with contextlib.suppress(OSError):
            cgroups.remove(doc_spec.state_dir)
        with contextlib.suppress(Exception):
            fleet.tmux.kill_server()
        with contextlib.suppress(OSError):
            os.unlink(fleet.tmux.socket_path())
        fleet.store.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _verdict(
    agent: AgentSpec, failure: str | None, row: AgentStatus | None, run: Run | None, output: str, note: str | None
) -> Check:
    name = f"agent {agent.name}"
    suffix = f" ({note})" if note else ""
    match = _first_match(agent.doctor_patterns, output)
    found = f"; output matched {match[0]!r}: {match[1]}" if match else ""
    if failure is not None:
        detail = re.sub(r" \(run `fleetctl reset [^`]*` once fixed\)", "", failure.split(": ", 1)[1])  # not ours
        return Check(name=name, ok=False, detail=detail + found + suffix)
    if row is not None and row.state is not AgentState.RUNNING:
        why = run.stop_reason if run is not None and run.stop_reason else row.reason or row.state.value
        return Check(
            name=name, ok=False, detail=f"{row.state.value} right after it was verified: {why}" + found + suffix
        )
    if match:
        return Check(name=name, ok=False, detail=f"started, but its output matched {match[0]!r}: {match[1]}" + suffix)
    what = [f"pid {run.pid}"] if run is not None else []
    if agent.port is not None:
        what.append(f"port {agent.port}")
    what.append(f"min_uptime {agent.min_uptime:g}s")
    return Check(name=name, ok=True, detail="verified: " + ", ".join(what) + suffix)


def _first_match(patterns: Sequence[str], output: str) -> tuple[str, str] | None:
    compiled = [(p, re.compile(p)) for p in patterns]
    for line in output.splitlines():
        for pattern, regex in compiled:
            if regex.search(line):
                return pattern, line.strip()[:200]
    return None
