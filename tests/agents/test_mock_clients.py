"""The real agent CLIs, headless, against the loopback mock API: answers, a bad key, a rate limit.

Each test runs one client with its own HOME (seeded as it needs to stay offline), a fixed fake key
and the mock's URL, and asserts what the person at the terminal would see. Skipped, saying how to
install, when the client is not installed (.ci/install-agents).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.mockapi import Fail, MockAPI, Reply, bad_key, clients, rate_limited

pytestmark = [pytest.mark.agents, pytest.mark.timeout(180)]

PROMPT = "Name the pelican-7431 in one word."


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def both(self) -> str:
        return self.stdout + self.stderr


def headless_args(name: str, prompt: str) -> list[str]:
    """The client's one-shot form."""
    return {
        "claude": ["-p", prompt],
        "codex": ["exec", "--skip-git-repo-check", prompt],
        "aider": ["--message", prompt, "--yes-always"],
        "llm": [prompt],
    }[name]


def run_headless(name: str, mock: MockAPI, tmp_path: Path, env: dict[str, str] | None = None) -> Result:
    run = clients.prepare(name, mock.url, tmp_path / "home", clients.git_repo(tmp_path / "work"))
    completed = subprocess.run(
        run.argv + headless_args(name, PROMPT),
        env=run.env | (env or {}),
        cwd=run.cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=150,
    )
    return Result(code=completed.returncode, stdout=completed.stdout, stderr=completed.stderr)


ALL = ["claude", "codex", "aider", "llm"]

# What each client prints for a rejected key, and its exit code (aider exits 0 whatever happened).
AUTH = {
    "claude": (1, "Failed to authenticate. API Error: 401"),
    "codex": (1, "unexpected status 401 Unauthorized"),
    "aider": (0, "The API provider is not able to authenticate you. Check your API key."),
    "llm": (1, "Error: Error code: 401 - Incorrect API key provided."),
}

# Claude Code retries a rejected key 10 times over minutes by default; one retry keeps it short.
SHORT_RETRIES = {"claude": {"CLAUDE_CODE_MAX_RETRIES": "1"}}


@pytest.mark.parametrize("name", ALL)
def test_client_answers_with_the_mock_text_and_the_mock_saw_the_prompt(
    name: str, mock_api: MockAPI, tmp_path: Path
) -> None:
    clients.require(name)
    mock_api.script(Reply(text="Percival is its name.", input_tokens=40, output_tokens=6))
    result = run_headless(name, mock_api, tmp_path)
    assert result.code == 0, result
    assert "Percival is its name." in result.stdout, result
    assert mock_api.saw("pelican-7431"), [r.path for r in mock_api.requests]
    assert all(r.headers.get("host", "").startswith("127.0.0.1:") for r in mock_api.requests)


def test_codex_reports_the_tokens_the_mock_counted(mock_api: MockAPI, tmp_path: Path) -> None:
    clients.require("codex")
    mock_api.script(Reply(text="Counted.", input_tokens=1234, output_tokens=56))
    result = run_headless("codex", mock_api, tmp_path)
    assert result.code == 0, result
    found = re.search(r"tokens used\s+([\d,]+)", result.stderr)
    assert found, result
    assert int(found.group(1).replace(",", "")) == sum(mock_api.usage()) == 1290


@pytest.mark.parametrize("name", ALL)
def test_client_shows_its_auth_message_on_401(name: str, mock_api: MockAPI, tmp_path: Path) -> None:
    clients.require(name)
    mock_api.script(bad_key(times=100))
    result = run_headless(name, mock_api, tmp_path, SHORT_RETRIES.get(name))
    code, message = AUTH[name]
    assert message in result.both, result
    assert result.code == code, result
    assert mock_api.model_requests, "the client never reached the mock"


@pytest.mark.parametrize("name", ALL)
def test_client_retries_a_429_and_then_answers(name: str, mock_api: MockAPI, tmp_path: Path) -> None:
    clients.require(name)
    mock_api.script(
        rate_limited("Please try again in 1s.", times=2, retry_after=1), then=Reply(text="Answered after the limit.")
    )
    result = run_headless(name, mock_api, tmp_path, {"claude": {"CLAUDE_CODE_MAX_RETRIES": "3"}}.get(name))
    assert result.code == 0, result
    assert "Answered after the limit." in result.stdout, result
    statuses = [r.behaviour.status if isinstance(r.behaviour, Fail) else 200 for r in mock_api.model_requests]
    assert statuses[:3] == [429, 429, 200], statuses
