"""Interactive Claude Code under fleetctl, against the loopback mock API, as a person at the terminal
sees it: a usage limit is `limited` and `continue` is typed when it lifts; the folder-trust
question is `asking`, told once, and `fleetctl answer` gets past it; an auth error is `failed` with
reason auth and one alert, the pane left as it is.

Claude Code retries an API error ten times over ~3.5 minutes before it shows it (that loop reads
`retrying`); these agents run with CLAUDE_CODE_MAX_RETRIES=1, as `fleetctl doctor` does, so the
error shows within seconds.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for
from tests.mockapi import MockAPI, Reply, Request, bad_key, clients, usage_limit

pytestmark = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.timeout(180)]

# How long after the limited request the mock says access comes back: long enough for a loaded
# machine to read the limit before it lifts, short enough for a fast test.
RESET_IN = 15.0
LIMIT = "You have reached your specified API usage limits. You will regain access on {reset}."


def _claude_fleet(
    fleet_dir: FleetHarness, mock_api: MockAPI, tmp_path: Path, prompt: str, *, trusted: bool = True
) -> Path:
    """One interactive claude agent, `coder`, started with `prompt`; returns the alerts file."""
    clients.require("claude")
    run = clients.prepare("claude", mock_api.url, tmp_path / "home", clients.git_repo(tmp_path / "work"))
    if not trusted:
        clients.seed_claude(tmp_path / "home", run.cwd, trusted=False)
    env = run.env | {"CLAUDE_CODE_MAX_RETRIES": "1"}
    alerts = tmp_path / "alerts"
    fleet_dir.write(
        f"""
    [agents.coder]
    command = {json.dumps(shlex.join([*run.argv, prompt]))}
    cwd = {json.dumps(str(run.cwd))}
    kind = "claude"
    restart = "always"
    min_uptime = "0.5s"
    backoff = "0.1s"
    [agents.coder.env]
    {chr(10).join(f"{key} = {json.dumps(value)}" for key, value in env.items())}
    """,
        extra_fleet=f'on_alert = "cat >> {alerts}; echo >> {alerts}"',
    )
    assert fleet_dir.run("up").code == 0
    return alerts


def _row(fleet_dir: FleetHarness) -> dict[str, object]:
    """The agent's status row after one supervision pass (what `fleetctl status` then shows)."""
    fleet_dir.run("reconcile")
    return fleet_dir.status()["coder"]


def _wait_row(fleet_dir: FleetHarness, check: str, what: str, timeout: float = 60) -> dict[str, object]:
    """Run passes until the status row shows `activity` or `state` equal to the value in `check`
    ("activity=limited"); returns that row."""
    key, _, value = check.partition("=")
    found: dict[str, object] = {}

    def seen() -> bool:
        found.update(_row(fleet_dir))
        return str(found.get(key)) == value

    wait_for(seen, timeout=timeout, interval=0.3, what=what, explain=lambda: _explain(fleet_dir))
    return found


def _explain(fleet_dir: FleetHarness) -> str:
    return fleet_dir.explain() + "\nscreen:\n" + fleet_dir.tmux("capture-pane", "-p", "-t", "coder")


def _user_texts(request: Request) -> list[str]:
    """The text blocks of the last user message of an Anthropic request: what was typed last."""
    body = request.body if isinstance(request.body, dict) else {}
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    if not users:
        return []
    content = users[-1].get("content")
    if isinstance(content, str):
        return [content]
    return [b.get("text", "") for b in content or [] if isinstance(b, dict) and b.get("type") == "text"]


def _alerts(fleet_dir: FleetHarness) -> list[str]:
    return [e.reason for e in fleet_dir.fleet().store.events() if e.kind == "alert"]


@pytest.mark.timeout(240)  # its waits add up to 210 s: a slow run fails with their explanation
def test_a_usage_limit_is_limited_then_continue_is_typed_at_the_reset(
    fleet_dir: FleetHarness, mock_api: MockAPI, tmp_path: Path
) -> None:
    mock_api.script(usage_limit(LIMIT, times=1000, reset_in=RESET_IN))
    _claude_fleet(fleet_dir, mock_api, tmp_path, "Refactor the pelican-2207 module.")

    _wait_row(fleet_dir, "activity=limited", "claude at its usage limit")  # already in its one retry

    def gave_up() -> bool:
        screen = fleet_dir.tmux("capture-pane", "-p", "-t", "coder")
        return "Request rejected (429)" in screen and "Retrying" not in screen

    wait_for(gave_up, timeout=30, interval=0.3, what="claude to give up retrying", explain=lambda: _explain(fleet_dir))
    row = _row(fleet_dir)
    assert row["activity"] == "limited" and "You will regain access on" in str(row["activity_detail"]), row
    assert isinstance(row["reset_at"], float) and row["reset_at"] > time.time(), row
    assert row["state"] in ("running", "parked"), row  # never killed, failed or respawned for a limit
    reset_at = row["reset_at"]
    mock_api.script(Reply(text="Back to the pelicans.", delay=4.0, times=10))  # the API lets it in again
    asked = len(mock_api.model_requests)
    until_reset: set[object] = set()  # what status shows while the limit holds

    def continued() -> Request | None:
        activity = _row(fleet_dir)["activity"]
        if time.time() < reset_at:
            until_reset.add(activity)
        return next((r for r in mock_api.model_requests[asked:] if "continue" in _user_texts(r)), None)

    request = wait_for(
        continued,
        timeout=RESET_IN + 45,
        interval=0.3,
        what="continue to reach the API",
        explain=lambda: _explain(fleet_dir),
    )
    assert isinstance(request, Request) and request.at >= reset_at, (request, reset_at)  # not before the reset
    assert until_reset == {"limited"}, until_reset
    assert any(e.kind == "continued" for e in fleet_dir.fleet().store.events()), _explain(fleet_dir)

    def back_at_work() -> bool:
        return str(_row(fleet_dir)["activity"]) in ("working", "waiting")

    wait_for(back_at_work, timeout=30, interval=0.3, what="claude working again", explain=lambda: _explain(fleet_dir))
    wait_for(lambda: "Back to the pelicans." in fleet_dir.tmux("capture-pane", "-p", "-t", "coder"), timeout=30)
    assert len(fleet_dir.fleet().store.records(0)["coder"].runs) == 1  # the same run throughout


def test_the_folder_trust_question_is_asking_told_once_and_answered(
    fleet_dir: FleetHarness, mock_api: MockAPI, tmp_path: Path
) -> None:
    mock_api.script(Reply(text="Percy.", times=10))
    alerts = _claude_fleet(fleet_dir, mock_api, tmp_path, "Name the pelican-5521 in one word.", trusted=False)

    row = _wait_row(fleet_dir, "activity=asking", "claude's folder-trust question")
    assert row["activity_detail"] == "Is this a project you created or one you trust?", row
    assert row["state"] == "running", row
    for _ in range(3):  # the same question on screen is not told again
        assert _row(fleet_dir)["activity"] == "asking"
    inbox = fleet_dir.fleet().store.messages("human")
    assert len(inbox) == 1 and "coder asks: Is this a project you created or one you trust?" in inbox[0].text, inbox
    assert [a for a in _alerts(fleet_dir) if a.startswith("asking")] == [
        "asking: Is this a project you created or one you trust?"
    ]
    wait_for(lambda: alerts.exists() and alerts.read_text().strip(), what="the alert command to run")
    sent = [json.loads(line) for line in alerts.read_text().splitlines() if line.strip()]
    assert [(s["event"], s["reason"]) for s in sent] == [("asking", row["activity_detail"])], sent
    assert not mock_api.saw("pelican-5521")  # nothing is sent before the folder is trusted

    answered = fleet_dir.run("answer", "coder", "yes")
    assert answered.code == 0, answered

    wait_for(lambda: mock_api.saw("pelican-5521"), timeout=30, what="the prompt to reach the API")
    row = _wait_row(fleet_dir, "activity=waiting", "claude at its prompt after the answer")
    screen = fleet_dir.tmux("capture-pane", "-p", "-t", "coder")
    assert "Is this a project you created" not in screen and "Percy." in screen, screen
    assert len(fleet_dir.fleet().store.messages("human")) == 1


def test_an_auth_error_is_failed_with_reason_auth_once_and_the_pane_is_left(
    fleet_dir: FleetHarness, mock_api: MockAPI, tmp_path: Path
) -> None:
    mock_api.script(bad_key(times=1000))
    alerts = _claude_fleet(fleet_dir, mock_api, tmp_path, "Say hello to the pelican.")

    row = _wait_row(fleet_dir, "state=failed", "claude to fail on the bad key")
    assert row["activity"] == "auth", row
    assert str(row["reason"]).startswith("auth: ") and "401" in str(row["reason"]), row
    for _ in range(3):  # later passes neither respawn, kill nor alert again
        again = _row(fleet_dir)
        assert (again["state"], again["reason"]) == ("failed", row["reason"]), again
    assert len(fleet_dir.fleet().store.records(0)["coder"].runs) == 1
    alerted = _alerts(fleet_dir)
    assert len(alerted) == 1 and "auth" in alerted[0], alerted
    wait_for(lambda: alerts.exists() and alerts.read_text().strip(), what="the alert command to run")
    sent = [json.loads(line) for line in alerts.read_text().splitlines() if line.strip()]
    assert len(sent) == 1 and sent[0]["reason"].startswith("auth: "), sent
    # the pane is left as it was, for a person to read
    panes = fleet_dir.tmux("list-panes", "-a", "-F", "#{window_name} #{pane_dead}")
    assert "coder 0" in panes.splitlines(), panes
    assert "401" in fleet_dir.tmux("capture-pane", "-p", "-t", "coder")


def test_aiders_gitignore_question_is_asking_then_answered_and_a_prompt_gets_through(
    fleet_dir: FleetHarness, mock_api: MockAPI, tmp_path: Path
) -> None:
    clients.require("aider")
    mock_api.script(Reply(text="Gulls and pelicans.", times=5))
    run = clients.prepare("aider", mock_api.url, tmp_path / "home", clients.git_repo(tmp_path / "work"))
    fleet_dir.write(f"""
    [agents.coder]
    command = {json.dumps(shlex.join(run.argv))}
    cwd = {json.dumps(str(run.cwd))}
    kind = "aider"
    min_uptime = "0.5s"
    [agents.coder.env]
    {chr(10).join(f"{key} = {json.dumps(value)}" for key, value in run.env.items())}
    """)
    assert fleet_dir.run("up").code == 0

    row = _wait_row(fleet_dir, "activity=asking", "aider's .gitignore question")
    assert row["activity_detail"] == "Add .aider* to .gitignore (recommended)?", row
    inbox = fleet_dir.fleet().store.messages("human")
    assert len(inbox) == 1 and "coder asks: Add .aider* to .gitignore (recommended)?" in inbox[0].text, inbox
    assert _alerts(fleet_dir) == ["asking: Add .aider* to .gitignore (recommended)?"]

    assert fleet_dir.run("answer", "coder", "yes").code == 0
    _wait_row(fleet_dir, "activity=waiting", "aider at its prompt after the answer")
    assert ".aider*" in (run.cwd / ".gitignore").read_text()  # it did what the answer said
    sent = fleet_dir.run("send", "coder", "Name the gull-3318 in one word.", "--wake")
    # against the mock aider answers at once: it may be back at its prompt before a look sees it work
    assert sent.code == 0 and "coder: typed and submitted; it is" in sent.out, sent
    wait_for(lambda: mock_api.saw("gull-3318"), timeout=30, what="the prompt to reach the API")
    wait_for(lambda: "Gulls and pelicans." in fleet_dir.tmux("capture-pane", "-p", "-t", "coder"), timeout=30)
    assert fleet_dir.tmux("capture-pane", "-p", "-t", "coder").count("gull-3318") == 1  # submitted once
