"""attach and init."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import click

from fleetctl.cli.base import EXIT_OK, FleetContext, command, complete_agents, pass_fleet


@command(name="attach")
@click.argument("name", metavar="NAME", shell_complete=complete_agents)
@pass_fleet
def attach(ctx: FleetContext, name: str) -> int:
    """Attach to an agent's (or a task window's: `pool.id`) tmux window (inside tmux: switch). Detach with C-b d."""
    from fleetctl.runtime import taskwindows

    fleet = ctx.fleet()
    inside = os.environ.get("TMUX", "").split(",")[0] == fleet.tmux.socket_path()
    if taskwindows.is_window(fleet, name):  # a pool's task window: `pool.id`
        argv = fleet.tmux.attach_argv(taskwindows.pane(fleet, name).window_id, inside)
    else:
        argv = fleet.attach_argv(name, inside)
    env = dict(os.environ)
    if not inside:
        env.pop("TMUX", None)
    os.execvpe(argv[0], argv, env)
    return EXIT_OK  # pragma: no cover - exec does not return


STARTER = """\
# fleetctl fleet file. Reference: README.md (Configuration). Check it with `fleetctl doctor`.

# The fleet: its name is the tmux session (socket fleetctl-<name>).
[fleet]
name = "{name}"
state_dir = ".fleet"

# Defaults for every agent (any agent key but command, port, replicas).
[defaults]
start_timeout = "10s"
min_uptime = "1s"
stop_timeout = "10s"
restart = "on-failure"
max_respawns = 5
respawn_window = "10m"

# One agent: run by /bin/sh -c; {{port}} {{name}} {{replica}} are substituted.
[agents.web]
command = "python3 -m http.server {{port}} --bind 127.0.0.1"
port = 8001

# An interactive Claude Code agent: fleetctl reads its screen (working, waiting, asking, limited).
# [agents.claude]
# kind = "claude"
# command = "claude"
# cwd = "."
# idle_timeout = "30m"
# env = {{ ANTHROPIC_API_KEY = "..." }}   # keys with KEY/TOKEN/SECRET/PASSWORD are never shown

# A Codex CLI agent.
# [agents.codex]
# kind = "codex"
# command = "codex"
# cwd = "."
# idle_timeout = "30m"

# A pool: one window per task from the backlog (`fleetctl task add "..."`), each in its own git
# worktree on branch fleet/<task id>; the gate runs there after exit 0 (pass: done, fail: review).
# [pools.coder]
# kind = "claude"
# command = "claude -p 'Do the task in {{task_file}} (JSON: title, body); commit in {{workspace}}.'"
# slots = 2
# workspace = "worktree"
# repo = "."
# gate = "python3 -m pytest -q"
# wall_timeout = "30m"
# max_attempts = 3
"""


def fleet_name_for(directory: Path) -> str:
    """A valid fleet name from a directory's name: other characters become `-`, at most 32."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", directory.name).lstrip("-_")[:32].rstrip("-")
    return name or "fleet"


@command(name="init")
@click.option("--path", "target", type=click.Path(), default="fleet.toml", show_default=True, help="Where to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--print", "to_stdout", is_flag=True, help="Print the starter file; write nothing.")
def init(target: str, force: bool, to_stdout: bool) -> int:
    """Write a commented starter fleet.toml, named after its directory (never overwrites without --force).

    It runs one web server and shows, commented out, a Claude Code agent, a Codex agent and a
    pool of task workers in git worktrees with a gate.
    """
    from fleetctl.errors import UsageError

    path = Path(target)
    text = STARTER.format(name=fleet_name_for(path.absolute().parent))
    if to_stdout:
        sys.stdout.write(text)
        return EXIT_OK
    if path.exists() and not force:
        raise UsageError(f"{path}: already exists; not overwriting it (--force replaces it, --print shows the starter)")
    path.write_text(text)
    print(f"wrote {path}")
    return EXIT_OK
