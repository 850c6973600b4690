"""`fleetctl doctor`'s key check: run each agent's (and pool's) kind check, a one-shot prompt such as
`claude -p`, with the agent's own command, environment and directory, and say what its output
means: ok, auth, limited until a time, or the check failed.

A booted agent proves only that its command starts; an interactive client with a rejected key
starts fine and sits in its pane. The check spends a few tokens, so `doctor --no-agent-checks`
skips it. Agents that would run the same check (replicas) share one run. Output is rendered as a
terminal shows it and has the fleet's secrets masked before it is quoted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fleetctl.doctor import Check
from fleetctl.kinds.check import CheckVerdict, check_command, judge
from fleetctl.kinds.model import Kind
from fleetctl.model import AgentSpec, FleetSpec, PoolSpec
from fleetctl.record import record

PARALLEL = 4
RENDER_COLUMNS = 400
# After a check's process exits (or its timeout), anything left in its group is ended.
_KILL = signal.SIGKILL


@record
class CheckTarget:
    """What one check runs: for an agent, or for a pool (its command without the task)."""

    label: str  # the doctor row's name
    kind: str
    command: str
    cwd: Path
    env: tuple[tuple[str, str], ...]


def targets(spec: FleetSpec, agents: Sequence[AgentSpec], pools: Sequence[PoolSpec]) -> list[CheckTarget]:
    out = []
    for agent in agents:
        env = (("FLEET_NAME", spec.name), ("FLEET_AGENT", agent.name), *agent.env)
        out.append(CheckTarget(f"key {agent.name}", agent.kind, agent.command, agent.cwd, env))
    for pool in pools:
        cwd = pool.repo if pool.workspace == "worktree" else pool.cwd
        env = (("FLEET_NAME", spec.name), ("FLEET_POOL", pool.name), *pool.env)
        out.append(CheckTarget(f"key pool {pool.name}", pool.kind, pool.command, cwd, env))
    return out


def check_keys(spec: FleetSpec, agents: Sequence[AgentSpec], pools: Sequence[PoolSpec]) -> list[Check]:
    """One Check per agent or pool whose kind has a check; the same check line is run once."""
    from fleetctl.kinds import load_kinds
    from fleetctl.redact import secret_values

    kinds = load_kinds(spec.kinds or None)
    secrets = secret_values(spec)
    lines: dict[str, tuple[CheckTarget, str | None, str]] = {}
    for target in targets(spec, agents, pools):
        kind = kinds.get(target.kind)
        if kind is None or not kind.check.args:
            continue  # generic and other kinds without a check: nothing cheap to ask
        line, why = check_command(target.command, kind)
        lines[target.label] = (target, line, why)
    unique: dict[tuple[str, str, tuple[tuple[str, str], ...]], CheckTarget] = {}
    for target, line, _ in lines.values():
        if line is not None:
            unique.setdefault(_identity(target, line), target)
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {key: pool.submit(run_check, t, kinds[t.kind], key[0], secrets) for key, t in unique.items()}
        verdicts = {key: future.result() for key, future in futures.items()}
    checks = []
    for label, (target, line, why) in lines.items():
        if line is None:
            checks.append(Check(label, True, f"no check: {why}"))
            continue
        key = _identity(target, line)
        verdict = verdicts[key]
        first = unique[key].label
        same = f" (the check of {first.removeprefix('key ')}, whose command, cwd and env are the same)"
        detail = verdict.detail + ("" if first == label else same)
        checks.append(Check(label, verdict.ok, detail, reset_at=verdict.reset_at))
    return checks


def _identity(target: CheckTarget, line: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    env = tuple(sorted((k, v) for k, v in target.env if k not in ("FLEET_AGENT", "FLEET_POOL")))
    return line, str(target.cwd), env


def run_check(target: CheckTarget, kind: Kind, line: str, secrets: Sequence[str]) -> CheckVerdict:
    """Run the check line under /bin/sh in its own process group, with a timeout; judge its output."""
    from fleetctl.redact import redact
    from fleetctl.screentext import render

    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env.update(target.env)
    env.update(kind.check.env)
    timeout = kind.check.timeout
    with tempfile.TemporaryFile() as out:
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", line],
                cwd=target.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            return CheckVerdict(ok=False, detail=f"check failed: cannot start it in {target.cwd}: {exc.strerror}")
        timed_out = False
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out, code = True, None
        seconds = time.monotonic() - started
        _end_group(proc.pid)
        proc.wait()
        out.seek(0)
        data = out.read()
    text = render(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), columns=RENDER_COLUMNS)
    lines = [redact(item, secrets) for item in text]
    return judge(kind, lines, code, timeout if timed_out else seconds, timed_out)


def _end_group(pgid: int) -> None:
    """Whatever the check left in its process group (a client's helper), and the check itself on a
    timeout: ended through the process gateway, which never signals a recycled pid."""
    from fleetctl.procs import ProcessGateway

    procs = ProcessGateway()
    table = procs.scan()
    targets = {pid: table.procs[pid].start_time for pid in table.group(pgid)}
    if targets:
        procs.signal(targets, _KILL)
