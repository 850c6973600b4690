"""How to run each real agent CLI against the mock: where it is, its argv, env and a seeded HOME.

The clients are installed by .ci/install-agents under $FLEETCTL_AGENTS_DIR (default
~/.cache/fleetctl-agents). Each run gets a minimal environment (no variable of the person's or
the machine's leaks in, so never a real key), a HOME of its own, and settings that keep it off
the network: it talks to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

AGENTS_DIR = Path(os.environ.get("FLEETCTL_AGENTS_DIR") or Path.home() / ".cache" / "fleetctl-agents")
FAKE_KEY = "sk-fake-fleetctl-0000-not-a-real-key-0000"
CLIENTS = ("claude", "codex", "aider", "llm")
AIDER_MODEL = "openai/gpt-4o-mini"
LLM_MODEL = "gpt-4o-mini"


def client_path(name: str) -> str | None:
    """The installed client binary, from the agents dir first, then PATH."""
    candidate = AGENTS_DIR / "bin" / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


def require(name: str) -> str:
    """The client's path, or skip the test saying how to install it."""
    path = client_path(name)
    if path is None:
        pytest.skip(f"{name} is not installed (run .ci/install-agents; looked in {AGENTS_DIR / 'bin'} and PATH)")
    return path


def client_version(name: str) -> str:
    """The client's version line, for fixture headers."""
    path = require(name)
    args = [path, "--version"] + (["--no-check-update"] if name == "aider" else [])
    env = base_env(Path("/tmp"))
    if name == "codex":
        env["CODEX_HOME"] = "/tmp"
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60).stdout.strip()
    return out.splitlines()[-1] if out else "unknown"


def base_env(home: Path) -> dict[str, str]:
    """A minimal environment: PATH with the agents dir and node, UTF-8, a terminal type, HOME."""
    path = os.pathsep.join([str(AGENTS_DIR / "bin"), "/usr/local/bin", "/usr/bin", "/bin"])
    return {
        "PATH": path,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "xterm-256color",
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        "NO_PROXY": "127.0.0.1,localhost",
    }


@dataclass(frozen=True)
class ClientRun:
    """How to start one client against the mock: argv before the prompt, env, working directory."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path


def prepare(name: str, url: str, home: Path, cwd: Path) -> ClientRun:
    """Seed `home` for client `name` and return how to run it against the mock at `url`."""
    home.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    path = require(name)
    env = base_env(home)
    if name == "claude":
        env |= {
            "ANTHROPIC_BASE_URL": url,
            "ANTHROPIC_API_KEY": FAKE_KEY,
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
        }
        seed_claude(home, cwd)
        return ClientRun(argv=[path], env=env, cwd=cwd)
    if name == "codex":
        codex_home = home / ".codex"
        codex_home.mkdir(exist_ok=True)
        env |= {"CODEX_HOME": str(codex_home), "MOCK_API_KEY": FAKE_KEY}
        seed_codex(codex_home, cwd)
        return ClientRun(argv=[path, *codex_flags(url)], env=env, cwd=cwd)
    if name == "aider":
        env |= {"OPENAI_API_BASE": f"{url}/v1", "OPENAI_API_KEY": FAKE_KEY}
        seed_aider(home)
        flags = ["--model", AIDER_MODEL, "--no-check-update", "--no-analytics", "--no-show-release-notes"]
        return ClientRun(argv=[path, *flags], env=env, cwd=cwd)
    if name == "llm":
        env |= {"OPENAI_BASE_URL": f"{url}/v1", "OPENAI_API_KEY": FAKE_KEY, "LLM_USER_PATH": str(home / "llm")}
        return ClientRun(argv=[path, "-m", LLM_MODEL], env=env, cwd=cwd)
    raise ValueError(f"unknown client {name!r}: expected one of {', '.join(CLIENTS)}")


def codex_flags(url: str) -> list[str]:
    """codex ignores OPENAI_BASE_URL: a provider named on the command line points it at the mock."""
    settings = {
        "model_provider": '"mock"',
        "model_providers.mock.name": '"mock"',
        "model_providers.mock.base_url": f'"{url}/v1"',
        "model_providers.mock.env_key": '"MOCK_API_KEY"',
        "model_providers.mock.wire_api": '"responses"',
        "check_for_update_on_startup": "false",
        "analytics.enabled": "false",
        "feedback.enabled": "false",
    }
    return [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]


def seed_claude(home: Path, cwd: Path, trusted: bool = True) -> None:
    """Skip the onboarding (which checks the public API host), the key approval and the trust question."""
    version = client_version("claude").split()[0]
    config: dict[str, object] = {
        "hasCompletedOnboarding": True,
        "lastOnboardingVersion": version,
        "customApiKeyResponses": {"approved": [FAKE_KEY[-20:]], "rejected": []},
    }
    if trusted:
        config["projects"] = {str(cwd): {"hasTrustDialogAccepted": True}}
    (home / ".claude.json").write_text(json.dumps(config))


def seed_codex(codex_home: Path, cwd: Path, trusted: bool = True) -> None:
    """Trust the working directory, so the interactive TUI skips its `Trust this folder?` question."""
    path = codex_home / "config.toml"
    path.write_text(f'[projects."{cwd}"]\ntrust_level = "trusted"\n' if trusted else "")


def seed_aider(home: Path) -> None:
    """aider downloads a price list on first run unless its cache has one: copy litellm's backup."""
    source = AGENTS_DIR / "model_prices_and_context_window.json"
    caches = home / ".aider" / "caches"
    caches.mkdir(parents=True, exist_ok=True)
    if source.exists():
        shutil.copy(source, caches / "model_prices_and_context_window.json")


def git_repo(path: Path) -> Path:
    """A fresh git repository with one commit (aider and codex behave differently inside one)."""
    path.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    subprocess.run(["git", "init", "-q", str(path)], check=True, env=env)
    (path / "README.md").write_text("scratch\n")
    subprocess.run(["git", "-C", str(path), "add", "README.md"], check=True, env=env)
    subprocess.run(["git", "-C", str(path), "commit", "-qm", "init"], check=True, env=env)
    return path
