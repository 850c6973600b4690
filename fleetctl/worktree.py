"""The git gateway: a worktree per task, on its own branch. The only module that runs git."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from fleetctl.errors import OperationFailed
from fleetctl.record import record

GIT_TIMEOUT_SECONDS = 60.0


class WorkspaceError(OperationFailed):
    """git could not make the task's worktree; the message is git's own error."""


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
            env=env,
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


@record
class MergeResult:
    """How a merge went: `how` is fast-forward, merge-commit or up-to-date; `conflicts` names files."""

    ok: bool
    how: str = ""
    commit: str = ""
    conflicts: tuple[str, ...] = ()
    error: str = ""


def _error(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stderr.strip() or result.stdout.strip()).splitlines()
    return " ".join(line.strip() for line in text[-3:]) or f"exit {result.returncode}"


def _identity(repo: Path) -> list[str]:
    """A committer for fleetctl's own commits when the repository has none configured."""
    if _git(repo, "config", "user.email").stdout.strip():
        return []
    return ["-c", "user.name=fleetctl", "-c", "user.email=fleetctl@localhost"]


def rev(repo: Path, name: str) -> str | None:
    """The commit a name points to, or None."""
    result = _git(repo, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
    return result.stdout.strip() if result.returncode == 0 else None


def current_branch(repo: Path) -> str | None:
    result = _git(repo, "symbolic-ref", "--quiet", "--short", "HEAD")
    return result.stdout.strip() if result.returncode == 0 else None


def commit_all(path: Path, message: str) -> bool:
    """Commit whatever the agent left uncommitted in its worktree; True when a commit was made."""
    if _git(path, "add", "-A").returncode != 0:
        raise WorkspaceError(f"git add in {path} failed")
    if _git(path, "diff", "--cached", "--quiet").returncode == 0:
        return False
    result = _git(path, *_identity(path), "commit", "-q", "--no-verify", "-m", message)
    if result.returncode != 0:
        raise WorkspaceError(f"git commit in {path} failed: {_error(result)}")
    return True


def checked_out_at(repo: Path, branch: str) -> Path | None:
    """The worktree (the repository itself, or another) where `branch` is checked out."""
    listing = _git(repo, "worktree", "list", "--porcelain").stdout
    path = None
    for line in listing.splitlines():
        if line.startswith("worktree "):
            path = Path(line.removeprefix("worktree "))
        elif line == f"branch refs/heads/{branch}" and path is not None:
            return path
    return None


def merge(repo: Path, branch: str, target: str, message: str) -> MergeResult:
    """Merge `branch` into `target`: a fast-forward when possible, else a merge commit.

    A checked-out target is merged in its worktree (a conflict is aborted, leaving it as it
    was); any other target is merged without a worktree (git merge-tree) and its ref moved.
    """
    tip, old = rev(repo, branch), rev(repo, target)
    if tip is None or old is None:
        return MergeResult(ok=False, error=f"no branch {branch if tip is None else target} in {repo}")
    if _git(repo, "merge-base", "--is-ancestor", tip, old).returncode == 0:
        return MergeResult(ok=True, how="up-to-date", commit=old)
    place = checked_out_at(repo, target)
    if place is not None:
        result = _git(place, *_identity(place), "merge", "--no-edit", "-m", message, branch)
        if result.returncode == 0:
            new = rev(place, "HEAD") or ""
            return MergeResult(ok=True, how="fast-forward" if new == tip else "merge-commit", commit=new)
        conflicts = _git(place, "diff", "--name-only", "--diff-filter=U").stdout.split()
        _git(place, "merge", "--abort")
        return MergeResult(ok=False, conflicts=tuple(conflicts), error=_error(result))
    if _git(repo, "merge-base", "--is-ancestor", old, tip).returncode == 0:
        new, how = tip, "fast-forward"
    else:
        tree = _git(repo, "merge-tree", "--write-tree", "--name-only", "--no-messages", old, tip)
        lines = tree.stdout.split()
        if tree.returncode == 1:
            return MergeResult(ok=False, conflicts=tuple(lines[1:]), error="conflict")
        if tree.returncode != 0 or not lines:
            return MergeResult(ok=False, error=_error(tree))
        made = _git(repo, *_identity(repo), "commit-tree", lines[0], "-p", old, "-p", tip, "-m", message)
        if made.returncode != 0:
            return MergeResult(ok=False, error=_error(made))
        new, how = made.stdout.strip(), "merge-commit"
    moved = _git(repo, "update-ref", f"refs/heads/{target}", new, old)
    if moved.returncode != 0:
        return MergeResult(ok=False, error=_error(moved))
    return MergeResult(ok=True, how=how, commit=new)


def diff(path: Path, base: str, stat: bool) -> str:
    """The worktree against its base commit, new files included, without touching its index."""
    with tempfile.TemporaryDirectory(prefix="fleetctl-diff-") as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        added = _git(path, "add", "-A", env=env)
        if added.returncode != 0:
            raise WorkspaceError(f"git add in {path} failed: {_error(added)}")
        result = _git(path, "diff", "--cached", *(["--stat"] if stat else []), base, "--", env=env)
    if result.returncode != 0:
        raise WorkspaceError(f"git diff in {path} failed: {_error(result)}")
    return result.stdout


def remove(repo: Path, path: Path, branch: str) -> str | None:
    """Remove a task's worktree and its branch; None when done, else git's error."""
    if path.exists():
        result = _git(repo, "worktree", "remove", "--force", str(path))
        if result.returncode != 0:
            return _error(result)
    _git(repo, "worktree", "prune")
    if rev(repo, f"refs/heads/{branch}") is not None:
        result = _git(repo, "branch", "-D", branch)
        if result.returncode != 0:
            return _error(result)
    return None


def repo_of(path: Path) -> Path | None:
    """The repository a worktree belongs to (its common git dir's parent)."""
    result = _git(path, "rev-parse", "--path-format=absolute", "--git-common-dir")
    common = result.stdout.strip()
    return Path(common).parent if result.returncode == 0 and common else None


def diff_commits(repo: Path, base: str, tip: str, stat: bool) -> str:
    """What a task's branch changed, once its worktree is gone (merged and pruned)."""
    result = _git(repo, "diff", *(["--stat"] if stat else []), base, tip, "--")
    if result.returncode != 0:
        raise WorkspaceError(f"git diff in {repo} failed: {_error(result)}")
    return result.stdout
