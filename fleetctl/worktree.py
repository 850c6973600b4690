"""The git gateway: a worktree per task, on its own branch. The only module that runs git."""

from __future__ import annotations

import subprocess
from pathlib import Path

from fleetctl.errors import OperationFailed

GIT_TIMEOUT_SECONDS = 60.0


class WorkspaceError(OperationFailed):
    """git could not make the task's worktree; the message is git's own error."""


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WorkspaceError(f"git {args[0]} in {repo}: {exc}") from None


def ensure_worktree(repo: Path, path: Path, branch: str) -> bool:
    """A worktree of `repo` at `path` on `branch`; an earlier attempt's worktree is kept (its work too).

    Returns True when it was created now. Raises WorkspaceError with git's message.
    """
    if (path / ".git").exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    exists = _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}").returncode == 0
    args = ["worktree", "add", str(path), branch] if exists else ["worktree", "add", "-b", branch, str(path)]
    result = _git(repo, *args)
    if result.returncode != 0 and "already registered" in result.stderr:
        _git(repo, "worktree", "prune")
        result = _git(repo, *args)
    if result.returncode != 0:
        error = " ".join(line.strip() for line in result.stderr.strip().splitlines()[-3:]) or "no error text"
        raise WorkspaceError(f"git worktree add {path} ({branch}) failed: {error}")
    return True
