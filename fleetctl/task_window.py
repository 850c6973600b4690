"""A pool task's window: its workspace, its task file, and the wrapper command that runs the
agent and then the pool's gate in the same window (so a slow gate never blocks the
supervise loop and is killed with the window)."""

from __future__ import annotations

import json
from pathlib import Path

from fleetctl import review
from fleetctl import spec as spec_module
from fleetctl.model import AgentSpec, PoolSpec, Run, Task
from fleetctl.runtime import launcher
from fleetctl.runtime.context import Runtime
from fleetctl.tmux import WindowRequest
from fleetctl.worktree import ensure_worktree


def run_file(rt: Runtime, run_id: str, suffix: str) -> Path:
    """A file the task's wrapper writes beside its run: exit, agent, gate, done."""
    return rt.runs_dir / f"{run_id}.{suffix}"


def gate_log(rt: Runtime, run: Run) -> Path:
    return rt.log_path(run.agent, run.id).with_suffix(".gate.log")


def workspace(rt: Runtime, pool: PoolSpec, task: Task) -> Path:
    """Where the task runs: its own git worktree, or the pool's cwd."""
    if pool.workspace == "worktree":
        path = rt.worktree_path(pool.name, task.id)
        ensure_worktree(pool.repo, path, review.branch_name(task.id))
        review.record_workspace(rt, pool, task, path)
        return path
    return pool.cwd


def request(rt: Runtime, pool: PoolSpec, task: Task, run: Run, workspace: Path) -> WindowRequest:
    """The task file and the window: the pool's command with {task_file} {workspace} {task_id}."""
    path = rt.task_file(task.id)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    payload = {
        "id": task.id,
        "title": task.title,
        "body": task.body,
        "labels": list(task.labels),
        "attempt": task.attempt,
        "acceptance": rt.store.review.work(task.id).acceptance,
        "previous_attempts": review.previous_attempts(rt, task),
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
    """Agent, then (if it exited 0 or reported done) the gate: see review.with_gate."""
    agent_file, gate_file, done_file = (run_file(rt, run.id, s) for s in ("agent", "gate", "done"))
    return review.with_gate(command, gate, pool, agent_file, gate_file, done_file, gate_log(rt, run))
