"""attach and init."""

from __future__ import annotations

import os
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


STARTER: list[tuple[str, str, dict[str, object]]] = [
    (
        "fleet",
        "# The fleet: its name is the tmux session (socket fleetctl-<name>).",
        {"name": "demo", "state_dir": ".fleet"},
    ),
    (
        "defaults",
        "# Defaults for every agent (any agent key but command, port, replicas).",
        {
            "start_timeout": "10s",
            "min_uptime": "1s",
            "stop_timeout": "10s",
            "restart": "on-failure",
            "max_respawns": 5,
            "respawn_window": "10m",
        },
    ),
    (
        "agents.web",
        "# One agent: run by /bin/sh -c; {port} {name} {replica} are substituted.",
        {"command": "python3 -m http.server {port} --bind 127.0.0.1", "port": 8001},
    ),
]


@command(name="init")
@click.option("--path", "target", type=click.Path(), default="fleet.toml", show_default=True, help="Where to write.")
def init(target: str) -> int:
    """Write a commented starter fleet.toml (never overwrites)."""
    import tomli_w

    from fleetctl.errors import UsageError

    path = Path(target)
    if path.exists():
        raise UsageError(f"{path}: already exists; not overwriting it")
    parts = ["# fleetctl fleet file. Reference: README.md (Configuration).\n"]
    for table, comment, values in STARTER:
        parts.append(f"{comment}\n[{table}]\n{tomli_w.dumps(values)}")
    path.write_text("\n".join(parts))
    print(f"wrote {path}")
    return EXIT_OK
