"""fleet.toml parsing: valid files become frozen specs; every bad file is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetctl import spec, spec_keys
from fleetctl.errors import ConfigError, UsageError
from fleetctl.model import RestartPolicy, StallAction

HEAD = '[fleet]\nname = "demo"\n'


def load(tmp_path: Path, body: str, head: str = HEAD) -> spec.FleetSpec:
    path = tmp_path / "fleet.toml"
    path.write_text(head + body)
    return spec.load(path)


def test_full_agent_with_defaults_and_replicas(tmp_path: Path) -> None:
    fleet = load(
        tmp_path,
        """
[defaults]
start_timeout = "250ms"
stop_timeout = 3
env = { A = "1" }
[agents.web]
command = "serve --port {port} --name {name} --replica {replica}"
port = 8001
replicas = 3
env = { B = "2" }
restart = "always"
idle_timeout = "off"
wall_timeout = "2h"
stall_action = "notify"
log_max_size = "1MB"
failure_patterns = { rate_limit = ["slow down"] }
""",
    )
    assert [a.name for a in fleet.agents] == ["web-1", "web-2", "web-3"]
    third = fleet.agents[2]
    assert third.port == 8003
    assert third.command == "serve --port 8003 --name web-3 --replica 3"
    assert third.start_timeout == 0.25 and third.stop_timeout == 3.0
    assert dict(third.env) == {"A": "1", "B": "2"}
    assert third.restart is RestartPolicy.ALWAYS and third.stall_action is StallAction.NOTIFY
    assert third.idle_timeout is None and third.wall_timeout == 7200.0
    assert third.log_max_size == 1024 * 1024
    assert "slow down" in third.rate_limit_patterns and r"\b429\b" in third.rate_limit_patterns
    assert fleet.state_dir == tmp_path / ".fleet"
    assert fleet.socket_name == "fleetctl-demo"


def test_each_agent_gets_its_own_cwd_resolved_against_the_fleet_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "sub")
    body = """
[defaults]
cwd = "link"
[agents.a]
command = "x"
[agents.b]
command = "x"
[agents.c]
command = "x"
cwd = "."
[agents.d]
command = "x"
cwd = "/tmp"
"""
    cwds = {a.name: a.cwd for a in load(tmp_path, body).agents}
    real = tmp_path.resolve()
    assert cwds == {"a": real / "sub", "b": real / "sub", "c": real, "d": Path("/tmp").resolve()}


def test_other_braces_in_commands_survive(tmp_path: Path) -> None:
    fleet = load(tmp_path, "[agents.a]\ncommand = \"awk '{print $1}' f\"\n")
    assert fleet.agents[0].command == "awk '{print $1}' f"


@pytest.mark.parametrize(
    "text,seconds", [("250ms", 0.25), ("10s", 10), ("5m", 300), ("2h", 7200), (7, 7), ("1.5s", 1.5), (0.5, 0.5)]
)
def test_durations(text: object, seconds: float) -> None:
    assert spec_keys.parse_duration(text) == seconds


def test_fingerprint_changes_with_command_not_with_timeouts(tmp_path: Path) -> None:
    a = load(tmp_path, '[agents.a]\ncommand = "x"\nstop_timeout = "1s"\n').agents[0]
    b = load(tmp_path, '[agents.a]\ncommand = "x"\nstop_timeout = "9s"\n').agents[0]
    c = load(tmp_path, '[agents.a]\ncommand = "y"\n').agents[0]
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_fingerprint_is_a_sha256_prefix_so_stored_runs_keep_matching(tmp_path: Path) -> None:
    import hashlib
    import json

    a = load(tmp_path, '[agents.a]\ncommand = "x"\nport = 8001\n').agents[0]
    payload = json.dumps([a.command, a.port, str(a.cwd), sorted(a.env), a.fallback], sort_keys=True)
    assert a.fingerprint() == hashlib.sha256(payload.encode()).hexdigest()[:16]


def test_prune_every_defaults_to_five_minutes(tmp_path: Path) -> None:
    assert load(tmp_path, "").prune_every == 300.0
    assert load(tmp_path, "", HEAD + 'prune_every = "30s"\n').prune_every == 30.0


BAD = [
    ("unknown agent key", '[agents.a]\ncommand = "x"\ncolour = "red"\n', "agents.a.colour", "unknown key"),
    (
        "unknown fleet key",
        '[agents.a]\ncommand = "x"\n',
        "fleet.bogus",
        "unknown key",
        '[fleet]\nname = "d"\nbogus = 1\n',
    ),
    ("unknown section", '[agent.a]\ncommand = "x"\n', "agent", "unknown section"),
    ("missing command", "[agents.a]\nport = 8000\n", "agents.a.command", "required"),
    ("empty command", '[agents.a]\ncommand = "  "\n', "agents.a.command", "non-empty"),
    ("command not a string", "[agents.a]\ncommand = 5\n", "agents.a.command", "got 5"),
    ("port as string", '[agents.a]\ncommand = "x"\nport = "80"\n', "agents.a.port", "1 to 65535"),
    ("port zero", '[agents.a]\ncommand = "x"\nport = 0\n', "agents.a.port", "1 to 65535"),
    ("port too high", '[agents.a]\ncommand = "x"\nport = 70000\n', "agents.a.port", "1 to 65535"),
    ("port bool", '[agents.a]\ncommand = "x"\nport = true\n', "agents.a.port", "got true"),
    (
        "duplicate ports",
        '[agents.a]\ncommand = "x"\nport = 8000\n[agents.b]\ncommand = "y"\nport = 8000\n',
        "agents.b.port",
        "already used by agent a",
    ),
    (
        "replica ports overlap",
        '[agents.a]\ncommand = "x"\nport = 8000\nreplicas = 3\n[agents.b]\ncommand = "y"\nport = 8002\n',
        "agents.b.port",
        "port 8002 is already used by agent a-3",
    ),
    ("replicas past 65535", '[agents.a]\ncommand = "x"\nport = 65535\nreplicas = 2\n', "agents.a.replicas", "65535"),
    (
        "replicas collide",
        '[agents.web-1]\ncommand = "x"\n[agents.web]\ncommand = "y"\nreplicas = 2\n',
        "agents.web.replicas",
        "collides",
    ),
    ("replicas zero", '[agents.a]\ncommand = "x"\nreplicas = 0\n', "agents.a.replicas", "1 to 1000"),
    ("bad duration", '[agents.a]\ncommand = "x"\nstart_timeout = "10 parsecs"\n', "agents.a.start_timeout", "duration"),
    ("negative duration", '[agents.a]\ncommand = "x"\nmin_uptime = -1\n', "agents.a.min_uptime", "duration"),
    ("off not allowed", '[agents.a]\ncommand = "x"\nstop_timeout = "off"\n', "agents.a.stop_timeout", "duration"),
    ("bad restart", '[agents.a]\ncommand = "x"\nrestart = "sometimes"\n', "agents.a.restart", "on-failure"),
    ("bad agent name", '[agents."web server"]\ncommand = "x"\n', "agents.web server", "bad agent name"),
    ("agent name too long", f'[agents.{"a" * 49}]\ncommand = "x"\n', "agents.", "bad agent name"),
    ("bad fleet name", '[agents.a]\ncommand = "x"\n', "fleet.name", "fleet name", '[fleet]\nname = "my fleet"\n'),
    ("missing fleet name", '[agents.a]\ncommand = "x"\n', "fleet.name", "required", "[fleet]\n"),
    ("missing fleet table", '[agents.a]\ncommand = "x"\n', "fleet", "missing [fleet]", ""),
    ("env not a table", '[agents.a]\ncommand = "x"\nenv = "A=1"\n', "agents.a.env", "table"),
    ("env bad value", '[agents.a]\ncommand = "x"\nenv = { A = [1] }\n', "agents.a.env.A", "string"),
    ("env reserved", '[agents.a]\ncommand = "x"\nenv = { FLEET_RUN = "1" }\n', "agents.a.env.FLEET_RUN", "fleetctl"),
    ("default for command", '[defaults]\ncommand = "x"\n[agents.a]\ncommand = "y"\n', "defaults.command", "per agent"),
    ("default for port", "[defaults]\nport = 1\n", "defaults.port", "per agent"),
    (
        "bad regex",
        '[agents.a]\ncommand = "x"\nfailure_patterns = { auth = ["("] }\n',
        "agents.a.failure_patterns",
        "regex",
    ),
    (
        "bad pattern class",
        '[agents.a]\ncommand = "x"\nfailure_patterns = { oops = ["x"] }\n',
        "agents.a.failure_patterns",
        "rate_limit",
    ),
    ("bad retry_timeout", '[agents.a]\ncommand = "x"\nretry_timeout = "soon"\n', "agents.a.retry_timeout", 'or "off"'),
    ("bad label", '[agents.a]\ncommand = "x"\nlabels = ["night shift"]\n', "agents.a.labels", "list of labels"),
    ("bad stall action", '[agents.a]\ncommand = "x"\nstall_action = "panic"\n', "agents.a.stall_action", "notify"),
    ("bad size", '[agents.a]\ncommand = "x"\nlog_max_size = "lots"\n', "agents.a.log_max_size", "size"),
    (
        "max_respawns negative",
        '[agents.a]\ncommand = "x"\nmax_respawns = -1\n',
        "agents.a.max_respawns",
        "non-negative",
    ),
    (
        "supervisor not bool",
        '[agents.a]\ncommand = "x"\n',
        "fleet.supervisor",
        "true or false",
        '[fleet]\nname = "d"\nsupervisor = "yes"\n',
    ),
    (
        "bad prune_every",
        '[agents.a]\ncommand = "x"\n',
        "fleet.prune_every",
        "duration",
        '[fleet]\nname = "d"\nprune_every = "often"\n',
    ),
    ("pool workspace", '[pools.p]\ncommand = "x"\nworkspace = "copy"\n', "pools.p.workspace", "worktree"),
    ("pool missing command", "[pools.p]\nslots = 2\n", "pools.p.command", "required"),
    ("pool name clash", '[agents.p]\ncommand = "x"\n[pools.p]\ncommand = "y"\n', "pools.p", "collides"),
    ("agents not a table", "", "agents", "expected a table", 'agents = 5\n[fleet]\nname = "d"\n'),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_config_is_one_clear_line(tmp_path: Path, case: tuple[str, ...]) -> None:
    _, body, key, expected, *head = case
    with pytest.raises(ConfigError) as info:
        load(tmp_path, body, head[0] if head else HEAD)
    message = info.value.message
    assert "\n" not in message
    assert str(tmp_path / "fleet.toml") in message or "fleet.toml" in message
    assert key in message, message
    assert expected in message, message
    assert info.value.exit_code == 2


def test_toml_syntax_error_names_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, '[agents.a]\ncommand = "x\n')
    assert "fleet.toml:4" in info.value.message and "invalid TOML" in info.value.message


def test_semantic_error_names_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, '[agents.a]\ncommand = "x"\n\nport = "eighty"\n')
    assert "fleet.toml:6: agents.a.port" in info.value.message


def test_discovery_order(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (tmp_path / "fleet.toml").write_text(HEAD)
    other = tmp_path / "other.toml"
    other.write_text(HEAD)
    assert spec.find_config(None, {}, deep) == tmp_path / "fleet.toml"
    assert spec.find_config(None, {"FLEETCTL_CONFIG": str(other)}, deep) == other
    assert spec.find_config(str(other), {"FLEETCTL_CONFIG": "/nope"}, deep) == other
    with pytest.raises(UsageError):
        spec.find_config(None, {"FLEETCTL_CONFIG": str(tmp_path / "missing.toml")}, deep)
