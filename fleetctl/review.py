"""What happens to a task's work after its run: the gate's environment, on_done, pruning.

pools.py calls in here when a run ends (record the attempt, merge or open a pull request),
when it prepares a window (the gate's environment, the task file's history) and once in a
while from its pass (prune worktrees); `fleetctl task prune` calls prune() directly.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from fleetctl import worktree
from fleetctl.attempts import RunEnd, Verdict
from fleetctl.dispatch import prune_due
from fleetctl.errors import FleetError
from fleetctl.model import PoolSpec, Task
from fleetctl.record import record, replace
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.events import emit
from fleetctl.store.review import AttemptResult

PR_TIMEOUT_SECONDS = 300.0
DEFAULT_WORKTREE_KEEP = 7 * 86400.0
GATE_TAIL_LINES = 10
GATE_TIMEOUT_SECONDS = 600.0
GATE_KILL_AFTER_SECONDS = 5
_sweeps: dict[Path, float] = {}  # state dir -> when this process last swept its worktrees


def branch_name(task_id: int) -> str:
    return f"fleet/{task_id}"


# --- the gate's environment --------------------------------------------------------------


def fleetctl_venv_bins() -> list[str]:
    """The bin directories of the virtualenv fleetctl itself runs from (none outside a venv)."""
    bins = []
    if sys.prefix != sys.base_prefix:
        bins.append(str(Path(sys.prefix) / "bin"))
    env = os.environ.get("VIRTUAL_ENV")
    if env:
        bins.append(str(Path(env) / "bin"))
    return [b for b in dict.fromkeys(bins) if ":" not in b]


def gate_env_lines(pool: PoolSpec) -> list[str]:
    """Shell lines run before the gate: fleetctl's virtualenv out of PATH, VIRTUAL_ENV unset,
    unless the pool's env sets them (then the pool's choice stands)."""
    own = {k for k, _ in pool.env}
    lines = []
    if "PATH" not in own:
        drop = ":" + "".join(f"{b}:" for b in fleetctl_venv_bins())
        if "VIRTUAL_ENV" not in own:
            runtime = '[ -n "$VIRTUAL_ENV" ] && _fleet_drop="$_fleet_drop$VIRTUAL_ENV/bin:"'
            lines.append(f"_fleet_drop={shlex.quote(drop)}; {runtime}")
        else:
            lines.append(f"_fleet_drop={shlex.quote(drop)}")
        lines += [
            "_fleet_path=; set -f; IFS=:",
            'for d in $PATH; do case "$_fleet_drop" in *":$d:"*) ;; '
            '*) _fleet_path="${_fleet_path:+$_fleet_path:}$d" ;; esac; done',
            'unset IFS; set +f; PATH="$_fleet_path"; export PATH',
        ]
    if "VIRTUAL_ENV" not in own:
        lines.append("unset VIRTUAL_ENV")
    return lines


def with_gate(
    command: str, gate: str, pool: PoolSpec, agent_file: Path, gate_file: Path, done_file: Path, log: Path
) -> str:
    """The window's script: the agent, then (if it exited 0 or reported done) the gate with a timeout,
    in the task's environment (fleetctl's own virtualenv left out); the agent's code is the run's."""
    q = shlex.quote
    timeout = int(pool.wall_timeout or GATE_TIMEOUT_SECONDS) + 1
    return "\n".join(
        [
            f"/bin/sh -c {q(command)}",
            "code=$?",
            f"echo $code > {q(str(agent_file))}",
            f"if [ $code -eq 0 ] || [ -e {q(str(done_file))} ]; then",
            f"  echo {q('fleetctl: gate: ' + gate)}",
            "  (",
            *(f"  {line}" for line in gate_env_lines(pool)),
            f"  exec timeout -k {GATE_KILL_AFTER_SECONDS} {timeout} /bin/sh -c {q(gate)} > {q(str(log))} 2>&1",
            "  )",
            f"  echo $? > {q(str(gate_file))}",
            f"  tail -n 20 {q(str(log))}",
            "fi",
            "exit $code",
        ]
    )


# --- the task file's history -------------------------------------------------------------


def previous_attempts(fleet: Runtime, task: Task) -> list[dict[str, object]]:
    """Earlier attempts of this task and why each failed, for the agent's task file."""
    results = fleet.store.review.attempt_results(task.id)
    out: list[dict[str, object]] = []
    for a in fleet.store.attempts(task.id):
        if a.attempt >= task.attempt:
            continue
        item: dict[str, object] = {"attempt": a.attempt, "outcome": a.outcome, "reason": a.reason}
        result = results.get(a.attempt)
        if result is not None and result.gate_tail:
            item["gate_output"] = result.gate_tail
        out.append(item)
    return out


def record_workspace(fleet: Runtime, pool: PoolSpec, task: Task, path: Path) -> None:
    """Remember the worktree, its branch and the commit it started from: at the first attempt, and
    again when a retry makes it anew after it was pruned (its branch went with it)."""
    work = fleet.store.review.work(task.id)
    if work.base is not None and work.worktree == str(path) and work.pruned is None:
        return
    base = worktree.rev(path, "HEAD") or worktree.rev(pool.repo, "HEAD")
    fleet.store.review.set_work(
        task.id, worktree=str(path), branch=branch_name(task.id), base=base, pruned=None, merged=None
    )


def record_attempt(fleet: Runtime, task: Task, end: RunEnd, verdict: Verdict) -> None:
    """How this attempt ended, for `task show` and the next attempt's task file."""
    if end.killed is not None:
        cls = f"killed: {end.killed}"
    elif verdict.setup_error:
        cls = "gate could not run"
    elif end.gate_code is not None:
        cls = "gate passed" if end.gate_code == 0 else ("gate timed out" if end.gate_code == 124 else "gate failed")
    elif end.exit_code == 0 and end.exit_signal is None:
        cls = "exited"
    else:
        cls = "crashed"
    tail = "\n".join(end.gate_output.splitlines()[-GATE_TAIL_LINES:])
    fleet.store.review.record_attempt(
        AttemptResult(
            task_id=task.id,
            attempt=task.attempt,
            exit_code=end.exit_code,
            exit_signal=end.exit_signal,
            cls=cls,
            gate_code=end.gate_code,
            gate_tail=tail,
        )
    )


# --- on_done -------------------------------------------------------------------------------


def on_done(fleet: Runtime, pool: PoolSpec, task: Task) -> tuple[str | None, str | None]:
    """Carry out the pool's on_done for a task whose gate passed: (problem, result).

    A problem (a conflict, a failed pr_command) makes the task needs-review with that reason;
    the result (the pull request's address, the merge) is the task's result.
    """
    if pool.on_done == "keep" or pool.workspace != "worktree":
        return None, None
    work = fleet.store.review.work(task.id)
    path = Path(work.worktree) if work.worktree else fleet.worktree_path(pool.name, task.id)
    branch = work.branch or branch_name(task.id)
    try:
        worktree.commit_all(path, f"fleet task {task.id}: {task.title}")
    except worktree.WorkspaceError as exc:
        return exc.message, None
    if pool.on_done == "merge":
        return _merge(fleet, pool, task, path, branch)
    return _pull_request(fleet, pool, task, path, branch)


def _merge(fleet: Runtime, pool: PoolSpec, task: Task, path: Path, branch: str) -> tuple[str | None, str | None]:
    target = pool.merge_into or worktree.current_branch(pool.repo)
    if target is None:
        return f"cannot merge {branch}: {pool.repo} has no current branch (set merge_into)", None
    tip = worktree.rev(pool.repo, branch) or ""
    result = worktree.merge(pool.repo, branch, target, f"Merge {branch}: {task.title}")
    if not result.ok:
        if result.conflicts:
            problem = f"merge of {branch} into {target} conflicts in: {', '.join(result.conflicts)}"
        else:
            problem = f"merge of {branch} into {target} failed: {result.error}"
        emit(fleet, "task-merge-failed", pool.name, problem, {"task": task.id, "conflicts": list(result.conflicts)})
        return problem, None
    fleet.store.review.set_work(task.id, merged=tip)
    said = f"merged {branch} into {target} ({result.how}, {result.commit[:12]})"
    emit(fleet, "task-merged", pool.name, said, {"task": task.id, "target": target, "how": result.how})
    error = worktree.remove(pool.repo, path, branch)  # done and merged: nothing left to keep
    if error is None:
        fleet.store.review.set_work(task.id, pruned=fleet.now())
    else:  # the supervise loop's sweep tries again
        emit(fleet, "warning", pool.name, f"task {task.id}: worktree kept after the merge: {error}", {"task": task.id})
    return None, said


def _pull_request(fleet: Runtime, pool: PoolSpec, task: Task, path: Path, branch: str) -> tuple[str | None, str | None]:
    assert pool.pr_command is not None
    task_file = fleet.task_file(task.id)
    command = pool.pr_command
    for key, value in {"branch": branch, "title": task.title, "task_file": str(task_file)}.items():
        command = command.replace("{" + key + "}", shlex.quote(value))
    env = {**os.environ, **dict(pool.env), "FLEET_TASK": str(task.id), "FLEET_WORKSPACE": str(path)}
    try:
        done = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=path,
            env=env,
            capture_output=True,
            text=True,
            timeout=PR_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"pr_command could not run: {exc}", None
    lines = [line.strip() for line in (done.stdout + "\n" + done.stderr).splitlines() if line.strip()]
    if done.returncode != 0:
        problem = f"pr_command failed (exit {done.returncode}): {' | '.join(lines[-3:])}"
        emit(fleet, "task-pr-failed", pool.name, problem, {"task": task.id})
        return problem, None
    result = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    said = result[-1] if result else f"pull request for {branch}"
    emit(fleet, "task-pr-opened", pool.name, said, {"task": task.id, "branch": branch})
    return None, said


# --- pruning -------------------------------------------------------------------------------


@record
class Prunable:
    """One task worktree on disk and what prune does (or did) with it."""

    task_id: int
    pool: str
    path: Path
    branch: str
    state: str
    remove: bool
    why: str
    error: str | None = None


def prune(fleet: Runtime, dry_run: bool = False) -> list[Prunable]:
    """Every task worktree under the state dir, removed (with its branch) when its time has come."""
    root = fleet.worktrees_dir
    now = fleet.now()
    out = []
    for pool_dir in sorted(p for p in root.glob("*") if p.is_dir()):
        pool = fleet.spec.pool(pool_dir.name)
        for path in sorted((p for p in pool_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)):
            task = fleet.store.task(int(path.name))
            if task is None:
                continue
            work = fleet.store.review.work(task.id)
            keep = pool.worktree_keep if pool else DEFAULT_WORKTREE_KEEP
            remove, why = prune_due(task.state, work.merged is not None, task.finished, now, keep)
            item = Prunable(
                task_id=task.id,
                pool=pool_dir.name,
                path=path,
                branch=work.branch or branch_name(task.id),
                state=task.state.value,
                remove=remove,
                why=why,
            )
            if remove and not dry_run:
                repo = pool.repo if pool else worktree.repo_of(path)
                error = worktree.remove(repo, path, item.branch) if repo else f"no repository found for {path}"
                item = replace(item, error=error)
                if error is None:
                    fleet.store.review.set_work(task.id, pruned=now)
                    emit(fleet, "task-pruned", item.pool, f"task {task.id}: {why}", {"task": task.id})
            out.append(item)
    return out


def sweep(fleet: Runtime) -> float | None:
    """prune() from the dispatch pass, at most every `prune_every` per fleet and process; returns
    when the next sweep is due, so that an idle supervise loop keeps a short prune_every too."""
    now = fleet.now()
    if not any(p.workspace == "worktree" for p in fleet.spec.pools):
        return None
    every = fleet.spec.prune_every
    last = _sweeps.get(fleet.spec.state_dir)
    if last is not None and now - last < every:
        return last + every
    _sweeps[fleet.spec.state_dir] = now
    try:
        prune(fleet)
    except FleetError as exc:  # git failing here must not stop dispatch
        emit(fleet, "warning", None, f"worktree prune: {exc.message}", {})
    return now + every
