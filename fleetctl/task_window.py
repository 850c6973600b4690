"""A pool task's window: its workspace, its task file, and the wrapper command that runs the
agent and then the pool's gate in the same window (so a slow gate never blocks the
supervise loop and is killed with the window)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from fleetctl import spec as spec_module
from fleetctl.model import AgentSpec, PoolSpec, Run, Task
from fleetctl.runtime import launcher
from fleetctl.runtime.context import Runtime
from fleetctl.tmux import WindowRequest
from fleetctl.worktree import ensure_worktree

TASKS_DIR = "tasks"
WORKTREES_DIR = "worktrees"
GATE_TIMEOUT_SECONDS = 600.0
GATE_KILL_AFTER_SECONDS = 5


def task_file(rt: Runtime, task_id: int) -> Path:
    return rt.spec.state_dir / TASKS_DIR / f"{task_id}.json"


def worktree_path(rt: Runtime, pool: str, task_id: int) -> Path:
    return rt.spec.state_dir / WORKTREES_DIR / pool / str(task_id)


def run_file(rt: Runtime, run_id: str, suffix: str) -> Path:
    """A file the task's wrapper writes beside its run: exit, agent, gate, done."""
    return rt.runs_dir / f"{run_id}.{suffix}"


def gate_log(rt: Runtime, run: Run) -> Path:
    return rt.log_path(run.agent, run.id).with_suffix(".gate.log")


def workspace(rt: Runtime, pool: PoolSpec, task: Task) -> Path:
    """Where the task runs: its own git worktree, or the pool's cwd."""
    if pool.workspace == "worktree":
        path = worktree_path(rt, pool.name, task.id)
        ensure_worktree(pool.repo, path, f"fleet/{task.id}")
        return path
    return pool.cwd


def request(rt: Runtime, pool: PoolSpec, task: Task, run: Run, workspace: Path) -> WindowRequest:
    """The task file and the window: the pool's command with {task_file} {workspace} {task_id}."""
    path = task_file(rt, task.id)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    payload = {
        "id": task.id,
        "title": task.title,
        "body": task.body,
        "labels": list(task.labels),
        "attempt": task.attempt,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    tmp.replace(path)
    values = {"task_file": path, "workspace": workspace, "task_id": task.id}
    command = spec_module.substitute(pool.command, values)
    if pool.gate:
        command = with_gate(rt, command, spec_module.substitute(pool.gate, values), pool, run)
    env = (
        *pool.env,
        ("FLEETCTL_CONFIG", str(rt.spec.path)),
        ("FLEET_TASK_FILE", str(path)),
        ("FLEET_WORKSPACE", str(workspace)),
        ("FLEET_POOL", pool.name),
    )
    agent = AgentSpec(
        name=run.agent,
        command=command,
        cwd=workspace,
        env=env,
        pool=pool.name,
        task_id=task.id,
        start_timeout=pool.start_timeout,
        min_uptime=pool.min_uptime,
        stop_timeout=pool.stop_timeout,
    )
    return launcher.window_request(rt, agent, run, command, linger=False)


def with_gate(rt: Runtime, command: str, gate: str, pool: PoolSpec, run: Run) -> str:
    """Agent, then (if it exited 0 or reported done) the gate with a timeout; the agent's code is the run's."""
    q = shlex.quote
    agent_file, gate_file, done_file = (str(run_file(rt, run.id, s)) for s in ("agent", "gate", "done"))
    log = gate_log(rt, run)
    timeout = int(pool.wall_timeout or GATE_TIMEOUT_SECONDS) + 1
    return "\n".join(
        [
            f"/bin/sh -c {q(command)}",
            "code=$?",
            f"echo $code > {q(agent_file)}",
            f"if [ $code -eq 0 ] || [ -e {q(done_file)} ]; then",
            f"  echo {q('fleetctl: gate: ' + gate)}",
            f"  timeout -k {GATE_KILL_AFTER_SECONDS} {timeout} /bin/sh -c {q(gate)} > {q(str(log))} 2>&1",
            f"  echo $? > {q(gate_file)}",
            f"  tail -n 20 {q(str(log))}",
            "fi",
            "exit $code",
        ]
    )
