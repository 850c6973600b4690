"""`init` writes a starter named after its directory, with commented AI-agent and pool examples;
`--force` overwrites, `--print` writes nothing, and a second plain `init` is one line and exit 2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from fleetctl import spec, spec_keys
from fleetctl.cli.misc import fleet_name_for


def init(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "fleetctl", "init", *args]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, timeout=30)


def test_init_names_the_fleet_after_its_directory_and_refuses_a_second_time(tmp_path: Path) -> None:
    project = tmp_path / "my shop.api"
    project.mkdir()
    first = init(project)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "wrote fleet.toml\n"
    loaded = spec.load(project / "fleet.toml")
    assert loaded.name == "my-shop-api"
    assert [a.name for a in loaded.agents] == ["web"] and loaded.agents[0].port == 8001
    (project / "fleet.toml").write_text("# mine\n")
    again = init(project)
    assert again.returncode == 2
    assert again.stdout == "" and len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert (project / "fleet.toml").read_text() == "# mine\n"  # untouched
    forced = init(project, "--force")
    assert forced.returncode == 0 and spec.load(project / "fleet.toml").name == "my-shop-api"


def test_a_fleet_name_is_made_valid() -> None:
    assert fleet_name_for(Path("/x/my shop.api")) == "my-shop-api"
    assert fleet_name_for(Path("/x/..hidden")) == "hidden"
    assert fleet_name_for(Path("/x/ünï")) == "n" and fleet_name_for(Path("/x/ü…")) == "fleet"
    assert fleet_name_for(Path("/x/" + "a" * 40)) == "a" * 32


def test_init_print_writes_nothing(tmp_path: Path) -> None:
    shown = init(tmp_path, "--print")
    assert shown.returncode == 0
    assert not (tmp_path / "fleet.toml").exists()
    assert f'\nname = "{fleet_name_for(tmp_path)}"\n' in shown.stdout
    (tmp_path / "fleet.toml").write_text("# mine\n")
    assert init(tmp_path, "--print").returncode == 0  # an existing file is no reason to refuse printing
    assert (tmp_path / "fleet.toml").read_text() == "# mine\n"


def test_the_commented_examples_are_a_claude_agent_a_codex_agent_and_a_gated_worktree_pool(tmp_path: Path) -> None:
    text = init(tmp_path, "--print").stdout
    uncommented = re.sub(r"(?m)^# (\[|[a-z_]+ = )", r"\1", text)
    if "kind" not in spec_keys.AGENT_FIELDS:  # agent kinds not known to this fleet file format yet
        uncommented = re.sub(r'(?m)^kind = ".*"\n', "", uncommented)
    assert 'kind = "claude"' in text and 'kind = "codex"' in text
    path = tmp_path / "fleet.toml"
    path.write_text(uncommented)
    loaded = spec.load(path)
    assert [a.name for a in loaded.agents] == ["web", "claude", "codex"]
    assert [a.command for a in loaded.agents[1:]] == ["claude", "codex"]
    (pool,) = loaded.pools
    assert pool.workspace == "worktree" and pool.gate
