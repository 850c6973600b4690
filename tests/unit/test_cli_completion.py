"""Shell completion through click for bash, zsh and fish (`_FLEETCTL_COMPLETE=<shell>_source fleetctl`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FLEETCTL = [sys.executable, "-m", "fleetctl"]


def complete(instruction: str, words: str, cword: str, cwd: Path | None = None) -> list[str]:
    """What fleetctl answers a shell's completion request (the protocol the sourced scripts speak)."""
    env = {**os.environ, "_FLEETCTL_COMPLETE": instruction, "COMP_WORDS": words, "COMP_CWORD": cword}
    done = subprocess.run(FLEETCTL, env=env, cwd=cwd, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout.splitlines()


@pytest.mark.timeout(30)
def test_bash_zsh_and_fish_complete_sta_to_status() -> None:
    assert complete("bash_complete", "fleetctl sta", "1") == ["plain,status"]
    zsh = complete("zsh_complete", "fleetctl sta", "1")
    assert zsh[:2] == ["plain", "status"] and zsh[2].startswith("Show every agent")
    fish = complete("fish_complete", "fleetctl sta", "sta")
    assert fish[:2] == ["plain", "status"] and fish[2].startswith("Show every agent")


@pytest.mark.timeout(30)
def test_subcommands_options_choices_and_agent_names_complete(tmp_path: Path) -> None:
    assert complete("bash_complete", "fleetctl task l", "2") == ["plain,list"]
    assert complete("bash_complete", "fleetctl status --j", "2") == ["plain,--json"]
    assert complete("bash_complete", "fleetctl task list --state r", "4") == ["plain,running"]
    (tmp_path / "fleet").mkdir()
    (tmp_path / "fleet" / "fleet.toml").write_text(
        '[fleet]\nname = "c"\n[agents.web]\ncommand = "x"\n[agents.worker]\ncommand = "x"\nreplicas = 2\n'
    )
    assert complete("bash_complete", "fleetctl logs w", "2", cwd=tmp_path / "fleet") == [
        "plain,worker",
        "plain,web",
        "plain,worker-1",
        "plain,worker-2",
    ]
    assert complete("bash_complete", "fleetctl status w", "2", cwd=tmp_path) == [""]  # no fleet file: nothing


@pytest.mark.timeout(30)
@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_its_completion_script(shell: str) -> None:
    env = {**os.environ, "_FLEETCTL_COMPLETE": f"{shell}_source"}
    done = subprocess.run(FLEETCTL, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert f"_FLEETCTL_COMPLETE={shell}_complete" in done.stdout and "_fleetctl_completion" in done.stdout


@pytest.mark.timeout(30)
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_real_bash_completes_sta_to_status(tmp_path: Path) -> None:
    """bash sources the script, as README says, and its completion function fills COMPREPLY."""
    script = tmp_path / "fleetctl-complete.bash"
    env = {**os.environ, "_FLEETCTL_COMPLETE": "bash_source"}
    script.write_text(subprocess.run(FLEETCTL, env=env, capture_output=True, text=True, check=True).stdout)
    bin_dir = tmp_path / "bin"  # the console script `fleetctl`, as installed
    bin_dir.mkdir()
    (bin_dir / "fleetctl").write_text(f'#!/bin/sh\nexec {sys.executable} -m fleetctl "$@"\n')
    (bin_dir / "fleetctl").chmod(0o755)
    probe = f"source {script}; COMP_WORDS=(fleetctl sta); COMP_CWORD=1; _fleetctl_completion fleetctl; "
    probe += 'printf "%s\\n" "${COMPREPLY[@]}"'
    path = f"{bin_dir}:{os.environ['PATH']}"
    done = subprocess.run(
        ["bash", "-c", probe], env={**os.environ, "PATH": path}, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.stdout.splitlines() == ["status"], done.stderr
