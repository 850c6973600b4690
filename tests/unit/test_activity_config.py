"""`kind` on agents and pools, `[kinds.NAME]` tables, and `fleetctl kinds`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fleetctl.errors import ConfigError
from fleetctl.spec import parse

BASE = '[fleet]\nname = "k"\n'


def _parse(tmp_path: Path, text: str) -> object:
    return parse(BASE + text, tmp_path / "fleet.toml")


def test_kind_defaults_to_generic_and_is_read_from_agent_defaults_and_pool(tmp_path: Path) -> None:
    spec = parse(
        BASE
        + '[defaults]\nkind = "aider"\n[agents.a]\ncommand = "x"\n[agents.b]\ncommand = "x"\nkind = "claude"\n'
        + '[pools.p]\ncommand = "x"\nkind = "codex"\n',
        tmp_path / "fleet.toml",
    )
    assert [a.kind for a in spec.agents] == ["aider", "claude"]
    assert spec.pools[0].kind == "codex"
    assert parse(BASE + '[agents.a]\ncommand = "x"\n', tmp_path / "fleet.toml").agents[0].kind == "generic"


def test_unknown_kind_names_the_key_and_the_known_kinds(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _parse(tmp_path, '[agents.a]\ncommand = "x"\nkind = "claud"\n')
    text = str(err.value)
    assert "agents.a.kind" in text and "'claud'" in text and "claude, codex, gemini, aider, generic" in text


def test_a_kinds_table_adds_a_kind_agents_may_name(tmp_path: Path) -> None:
    spec = parse(
        BASE + '[agents.a]\ncommand = "x"\nkind = "mine"\n[kinds.mine]\nbase = "aider"\n', tmp_path / "fleet.toml"
    )
    assert spec.agents[0].kind == "mine" and "mine" in spec.kinds


def test_a_bad_kinds_table_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"kinds\.claude\.activity\.sleeping"):
        _parse(tmp_path, '[kinds.claude.activity.sleeping]\nscreen = ["zz"]\n')


def test_fleetctl_kinds_lists_builtin_and_fleet_kinds(tmp_path: Path) -> None:
    (tmp_path / "fleet.toml").write_text(BASE + '[kinds.mine]\nbase = "aider"\n')
    out = subprocess.run(
        [sys.executable, "-m", "fleetctl", "kinds"], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines()[1:]}
    assert set(lines) == {"aider", "claude", "codex", "gemini", "generic", "mine"}
    assert "asking" in lines["claude"] and "fleet.toml, based on aider" in lines["mine"]
    assert lines["generic"].split()[1] == "-"


def test_fleetctl_with_a_bad_kind_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "fleet.toml").write_text(BASE + '[agents.a]\ncommand = "x"\nkind = "nope"\n')
    out = subprocess.run(
        [sys.executable, "-m", "fleetctl", "status"], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "agents.a.kind" in out.stderr
