"""Starting runs: the wrapper script each run starts through, and opening windows for it.

All windows of a pass open in one tmux call. A run is recorded with its window's pid and
start time; whether it came up is verified later by the planner, never assumed here.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from shlex import quote

from fleetctl import cgroups, wake
from fleetctl import plan as planner
from fleetctl.errors import OperationFailed, StoreError
from fleetctl.logview import END_MARKER
from fleetctl.model import SUPERVISOR_WINDOW, AgentRecord, AgentSpec, Observation, Run, new_run_id
from fleetctl.procs import SHELL_CHILDREN_FILE
from fleetctl.record import replace
from fleetctl.runtime import logs, terminate
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.events import emit
from fleetctl.sessions import start as sessions
from fleetctl.tmux import HOME_WINDOW, OpenedWindows, WindowRequest

WRAPPER_LINGER_SECONDS = 0.2
LEFTOVER_GRACE_SECONDS = 0.1
# Started in front of each run's wrapper on Linux: makes the pane's process a child
# subreaper (prctl 36, PR_SET_CHILD_SUBREAPER, kept across execve), then becomes the
# wrapper shell. A process that leaves the group and clears its env (`setsid env -i ...`)
# and whose parent exits is re-parented to the wrapper, not to init: it stays in the
# pane's tree, which every stop walks. No process stays. Where perl is installed it makes
# the prctl call (3 ms of CPU per start, against 13 ms for python -I -S with ctypes and 1 ms
# for a bare `sh -c true`; median CPU of 20 runs each): 1 s of CPU less per 100 starts.
_SUBREAPER_SHIM = "import ctypes,os,sys;ctypes.CDLL(None).prctl(36,1,0,0,0);os.execv(sys.argv[1],sys.argv[1:])"
# The prctl system call's number where the perl shim knows it (Linux's own tables).
_PRCTL_SYSCALL = {"x86_64": 157, "aarch64": 167}
_PERL_SHIM = "syscall(%d, 36, 1, 0, 0, 0); exec { $ARGV[0] } @ARGV or die qq(cannot run $ARGV[0]: $!\\n)"
# Words that a shell runs itself or parses as syntax: `exec` in front would look for a program
# of that name (or fail), so a command starting with one keeps its own shell process.
_SHELL_WORD_LIST = (
    "! { } [[ ]] . : [ alias bg break case cd command continue do done echo elif else esac eval exec exit export "
    "false fc fg fi for function getopts hash if in jobs kill local printf pwd read readonly return select set "
    "shift test then time times trap true type ulimit umask unalias unset until wait while"
)
_SHELL_WORDS = frozenset(_SHELL_WORD_LIST.split())
_SHELL_SYNTAX = re.compile(r"[;&|<>()`\\\n]|\$\(")


def exec_form(command: str) -> str:
    """The command as the wrapper's `sh -c` runs it: one plain simple command gets `exec` in
    front, so that shell becomes the agent instead of forking it (a process fewer per agent in
    every /proc scan, a fork fewer per start). Lists, pipes, redirections, substitutions,
    assignments and builtins are left as written."""
    words = command.split(None, 1)
    if not words or _SHELL_SYNTAX.search(command):
        return command
    first = words[0]
    if "=" in first or first in _SHELL_WORDS or first[0] in "#'\"$~":
        return command
    return f"exec {command}"


def window_request(
    rt: Runtime,
    spec: AgentSpec,
    run: Run,
    command: str,
    linger: bool = True,
    extra_env: Sequence[tuple[str, str]] = (),
) -> WindowRequest:
    """Write the run's script (0600, emptied by itself as it starts) and describe its window.

    User env (possibly secrets) goes only into the script, never into argv. The script is
    one brace group, so the shell has parsed all of it before its first line empties the
    file: no secret stays on disk, and no `rm` process is forked per start. The empty file
    goes when the run is settled (terminate.drop_scripts). `linger`: see below.
    """
    rt.runs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    logs.prune(rt, spec, keep=logs.older_logs_kept(spec))
    log = logs.create(rt.log_path(spec.name, run.id))
    exit_file = rt.runs_dir / f"{run.id}.exit"
    public = [
        ("FLEET_NAME", rt.spec.name),
        ("FLEET_HOST", rt.spec.host),
        ("FLEET_AGENT", spec.name),
        ("FLEET_RUN", run.id),
    ]
    private = [("FLEET_CONFIG", str(rt.spec.path)), ("FLEET_STATE_DIR", str(rt.spec.state_dir))]
    if spec.port is not None:
        private.append(("FLEET_PORT", str(spec.port)))
    if run.task_id is not None:
        private.append(("FLEET_TASK", str(run.task_id)))
    # `true`, not `:`: a failed redirection on a special builtin would end the shell.
    lines = ["{", 'true 2>/dev/null >"$0"']
    cgroup = _cgroup(rt, spec.name)
    if cgroup is not None:  # into the agent's cgroup, before anything is started (a builtin: no fork)
        lines.append(f"{{ echo $$ > {quote(str(cgroup / cgroups.PROCS))}; }} 2>/dev/null")
    lines += [f"export {k}={quote(v)}" for k, v in private + list(extra_env) + list(spec.env)]
    lines.append(f"/bin/sh -c {quote(exec_form(command))}")
    lines.append("code=$?")
    lines.append(f"printf {quote(_printf_escape(END_MARKER))}")
    lines.append(f"echo $code > {quote(str(exit_file))}")
    # Wake the supervise loop ourselves: tmux's pane-died hook is skipped when the
    # pane's pipe still has output in flight (seen with tmux 3.3a), so it is a backup.
    fifo = quote(str(rt.wake_fifo))
    lines.append(f"[ -p {fifo} ] && printf x 1<> {fifo}")
    reaper = subreaper()
    if reaper:
        lines += _end_leftovers()
    # Hold the pty open a moment: output written just before a fast exit is otherwise
    # sometimes lost between the kernel and tmux. A respawn ends this wait at once.
    # Not after a signal death (nothing more was said), and not in pool task windows
    # (a lingering window would look like a busy slot). stderr is closed first, so a
    # respawn ending the wait leaves no "Terminated" from the shell in the agent's log.
    if linger:
        lines.append(f"[ $code -gt 128 ] || {{ exec 2>/dev/null; sleep {WRAPPER_LINGER_SECONDS:g}; }}")
    lines.append("}")
    script = rt.runs_dir / f"{run.id}.sh"
    fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    return WindowRequest(
        name=spec.name,
        argv=(*reaper, "/bin/sh", str(script)),
        cwd=str(spec.cwd),
        env=tuple(public),
        pipe=logs.pipe_command(rt, spec, log),
    )


def _cgroup(rt: Runtime, agent: str) -> Path | None:
    fleet_cgroup = cgroups.ensure(rt.spec.state_dir, rt.spec.name, rt.procs.own_cgroup)
    return None if fleet_cgroup is None else cgroups.agent_dir(fleet_cgroup, agent)


def _printf_escape(data: bytes) -> str:
    """Bytes as a printf format: control bytes in octal, so the script stays plain text."""
    return "".join(chr(b) if 32 <= b < 127 and chr(b) not in "\\%" else f"\\{b:03o}" for b in data)


def subreaper() -> tuple[str, ...]:
    """The argv prefix that starts a wrapper as a child subreaper (Linux only; elsewhere none)."""
    if not sys.platform.startswith("linux"):
        return ()
    number = _PRCTL_SYSCALL.get(os.uname().machine)
    perl = shutil.which("perl") if number is not None else None
    if perl is not None:
        return (perl, "-e", _PERL_SHIM % number, "--")
    return (sys.executable, "-I", "-S", "-c", _SUBREAPER_SHIM)


def _end_leftovers() -> list[str]:
    """Wrapper lines that end what the command left behind once it is over.

    As a subreaper the wrapper inherits every orphan of the run; it would pass them on to
    init when it exits. So TERM its children (read from /proc, no fork), and KILL what is
    left (and any grandchild re-parented meanwhile) a moment later. The children file is
    missing on kernels without CONFIG_PROC_CHILDREN: then nothing is done here, and the
    stops still walk the tree.
    """
    kids = SHELL_CHILDREN_FILE
    return [
        "kids=",
        f"read -r kids 2>/dev/null < {kids}",
        f'[ -z "$kids" ] || {{ kill -TERM $kids; sleep {LEFTOVER_GRACE_SECONDS:g}; kids=; read -r kids < {kids};'
        ' [ -z "$kids" ] || kill -KILL $kids; } 2>/dev/null',
    ]


def ensure_session(rt: Runtime) -> None:
    """The fleet's tmux server and session (with its wake hooks), started if missing."""
    wake.ensure(rt.wake_fifo)
    rt.tmux.ensure_session(str(rt.spec.path.parent), str(rt.wake_fifo))


def spawn(rt: Runtime, spawns: Sequence[planner.Spawn], obs: Observation, records: dict[str, AgentRecord]) -> list[str]:
    """Sweep what the replaced runs left, then open every window in one tmux call."""
    sweep: terminate.Batch = []
    old_windows = []
    for s in spawns:
        agent = obs.agents.get(s.agent)
        spec = rt.spec.agent(s.agent)
        if s.replaces:
            roots = [agent.pane.pid] if agent is not None and agent.alive else []
            sweep.append(([s.replaces], roots, spec.stop_timeout if spec else terminate.DEFAULT_STOP_SECONDS))
        if agent is not None:
            old_windows.append(agent.pane.window_id)
    if sweep:
        replaced = [s.agent for s in spawns if s.replaces]
        left = terminate.terminate(rt, sweep, terminate.earliest(records, replaced), agents=replaced)
        if left:
            emit(rt, "warning", None, f"leftover processes survived SIGKILL: {sorted(left)}", {})
    if not (obs.server_running and any(p.window_name == HOME_WINDOW for p in obs.others)):
        ensure_session(rt)
    requests: list[WindowRequest] = []
    started: list[tuple[planner.Spawn, Run]] = []
    now = rt.now()
    for s in spawns:
        spec = rt.spec.agent(s.agent)
        if spec is None:
            continue
        run = Run(
            id=new_run_id(),
            agent=s.agent,
            started=now,
            respawn=s.respawn,
            fallback=s.fallback,
            fingerprint=spec.fingerprint(),
        )
        command = spec.fallback if s.fallback and spec.fallback else spec.command
        command, session_env = sessions.prepare(rt, spec, command, now)  # resume the agent's session
        requests.append(window_request(rt, spec, run, command, extra_env=session_env))
        started.append((s, run))
    batch = rt.tmux.open_windows(requests, close_first=old_windows)
    recorded: list[str] = []
    try:
        return _record_started(rt, started, batch, now, recorded)
    except StoreError as exc:  # the windows are open: say so, and what adopts them
        names = [f"{w.name} (pid {w.pid})" for w in batch.opened if w.name not in recorded]
        then = f"{exc.hint}; then " if exc.hint else ""
        raise OperationFailed(
            f"started {', '.join(names)} but could not record {'it' if len(names) == 1 else 'them'}: {exc.message}",
            hint=f"{then}`fleetctl reconcile` adopts what runs (nothing is started twice)",
        ) from exc


def _record_started(
    rt: Runtime, started: list[tuple[planner.Spawn, Run]], batch: OpenedWindows, now: float, recorded: list[str]
) -> list[str]:
    """Record each run whose window opened (its name goes into `recorded`); report the others."""
    opened = {w.name: w for w in batch.opened}
    failures = []
    for s, run in started:
        window = opened.get(s.agent)
        if window is None:
            why = f"tmux could not open a window: {batch.reason(s.agent) or 'no window id came back'}"
            failures.append(f"{s.agent}: {why}")
            emit(rt, "start-failed", s.agent, why, {"run": run.id})
            terminate.drop_scripts(rt, [run.id])  # no shell will read it: its env goes now
            continue
        run = replace(run, pid=window.pid, window_id=window.window_id, pane_id=window.pane_id)
        rt.store.add_run(run, rt.procs.identity(window.pid))
        recorded.append(s.agent)
        kind = "respawned" if s.respawn else "spawned"
        data: dict[str, object] = {"run": run.id, "pid": window.pid, "window": window.window_id, "fallback": s.fallback}
        emit(rt, kind, s.agent, s.reason, data, now)
        if s.fallback:
            emit(rt, "fallback", s.agent, "primary failed repeatedly; running the fallback command", {})
    return failures


def sweep_scripts(rt: Runtime, listing: set[str], obs: Observation, records: dict[str, AgentRecord]) -> list[str]:
    """Delete the run scripts that belong to no live run; returns their run ids.

    A script holds its run's env, secrets included, until its shell starts. One whose `up`
    was killed before the window opened (or whose window never opened) would keep it
    forever. The caller holds the store's lock, so every script of a pass in flight belongs
    to a recorded run by the time another pass looks: a script is kept when its run is
    recorded and live, or when a live pane carries its FLEET_RUN (a run whose recording
    was cut short: its shell may not have read the script yet). `listing`: the runs
    directory's file names, as the pass listed them.
    """
    names = [n[:-3] for n in listing if n.endswith(".sh")]
    live = {r.current.id for r in records.values() if r.current is not None and r.current.live}
    unknown = [run_id for run_id in names if run_id not in live]
    if not unknown:
        return []
    carried: set[str] | None = None
    orphans = []
    for run_id in unknown:
        run = rt.store.run(run_id)  # runs the records leave out: pool task runs, older ones
        if run is not None:
            if not run.live:
                orphans.append(run_id)
            continue
        if carried is None:
            carried = _carried_runs(rt, obs)
        if run_id not in carried:
            orphans.append(run_id)
    terminate.drop_scripts(rt, orphans)
    return orphans


def _carried_runs(rt: Runtime, obs: Observation) -> set[str]:
    """The FLEET_RUN of every live pane (read only when an unrecorded script is found)."""
    panes = [a.pane for a in obs.agents.values()] + list(obs.others)
    out = set()
    for pane in panes:
        if not pane.dead:
            run_id = rt.procs.environ(pane.pid).get("FLEET_RUN")
            if run_id:
                out.add(run_id)
    return out


def ensure_supervisor(rt: Runtime, obs: Observation, records: dict[str, AgentRecord]) -> None:
    """Open the supervise loop's window if the fleet wants one and it is not running."""
    wanted = bool(rt.spec.pools) or any(r.desired == "running" for r in records.values() if rt.spec.agent(r.name))
    if not wanted:
        return
    current = [p for p in obs.others if p.window_name == SUPERVISOR_WINDOW]
    if any(not p.dead for p in current):
        return
    ensure_session(rt)
    request = WindowRequest(
        name=SUPERVISOR_WINDOW,
        argv=(sys.executable, "-m", "fleetctl", "-c", str(rt.spec.path), "supervise"),
        cwd=str(rt.spec.path.parent),
        env=(("FLEET_NAME", rt.spec.name), ("FLEETCTL_SUPERVISOR", "1")),
    )
    batch = rt.tmux.open_windows([request], close_first=[p.window_id for p in current])
    if batch.opened:
        window = batch.opened[0]
        emit(rt, "supervisor-started", None, f"supervise loop in window {window.window_id}", {"pid": window.pid})
    else:
        emit(rt, "warning", None, f"tmux could not open the supervise loop's window: {batch.reason(request.name)}", {})
