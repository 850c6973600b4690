"""Record what the real agent CLIs print against the mock, into tests/fixtures/recorded/<client>/<case>.txt.

    PYTHONPATH=. python3 -m tests.mockapi.record [CLIENT ...] [--case CASE ...]

Headless cases keep stdout, stderr and the exit code; screen cases run the client in a private
tmux server (200x50) and keep the visible screen once it settles. Every fixture starts with
header lines (`# key: value`) naming the client version, the mock's script and the command.
The mock's port, the temporary paths and the fake key are replaced by placeholders.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.mockapi import MockAPI, Reply, bad_key, rate_limited, server_error, usage_limit
from tests.mockapi.behaviours import Behaviour
from tests.mockapi.clients import (
    CLIENTS,
    FAKE_KEY,
    client_path,
    client_version,
    git_repo,
    prepare,
    seed_claude,
    seed_codex,
)

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "recorded"
PROMPT = "Say hello to the pelican."
RESETS_IN = 3 * 3600


def usage_for(client: str) -> list[Behaviour]:
    """A usage-limit answer in the words each provider uses."""
    if client == "claude":
        text = "You have reached your specified API usage limits. You will regain access on 2026-12-24 at 00:00 UTC."
        return [usage_limit(text, times=1000)]
    if client == "codex":
        return [usage_limit("You've hit your usage limit.", times=1000, resets_at=int(time.time()) + RESETS_IN)]
    return [usage_limit("You exceeded your current quota, please check your plan and billing details.", times=1000)]


@dataclass(frozen=True)
class Case:
    """One recording: the mock's script, how the client is run, and (for screens) what to wait for."""

    name: str
    script: Callable[[str], list[Behaviour]]
    screen: bool = False
    submit: bool = True  # type the prompt (screens)
    wait_for: tuple[str, ...] = ()  # any of these on screen ends the wait (else: settle or timeout)
    env: dict[str, str] = field(default_factory=dict)
    trusted: bool = True
    timeout: float = 180.0
    note: str = ""


def _ok(_: str) -> list[Behaviour]:
    return [Reply(text="Hello, pelican! The mock says hi.", input_tokens=40, output_tokens=9)]


def _slow(_: str) -> list[Behaviour]:
    return [Reply(text="Thinking slowly about pelicans.", delay=60.0)]


def _rate(_: str) -> list[Behaviour]:
    return [rate_limited("Please try again in 5s.", times=1000)]


def _auth(_: str) -> list[Behaviour]:
    return [bad_key(times=1000)]


def _server(_: str) -> list[Behaviour]:
    return [server_error(times=1000)]


HEADLESS = [
    Case(name="headless-answer", script=_ok),
    Case(name="headless-auth-401", script=_auth, timeout=300, note="claude: CLAUDE_CODE_MAX_RETRIES=2"),
    Case(name="headless-rate-limit-429", script=_rate, timeout=300, note="claude: CLAUDE_CODE_MAX_RETRIES=2"),
    Case(name="headless-usage-limit", script=usage_for, timeout=300, note="claude: CLAUDE_CODE_MAX_RETRIES=2"),
    Case(name="headless-server-500", script=_server, timeout=300, note="claude: CLAUDE_CODE_MAX_RETRIES=2"),
]

SCREENS = [
    Case(name="screen-waiting", script=_ok, screen=True, submit=False),
    Case(name="screen-answered", script=_ok, screen=True, wait_for=("pelican!",)),
    Case(name="screen-working", script=_slow, screen=True, timeout=8),
    Case(name="screen-question", script=_ok, screen=True, submit=False, trusted=False),
    Case(name="screen-rate-limit-429", script=_rate, screen=True, wait_for=("Retrying", "reconnecting", "retry")),
    Case(name="screen-auth-401", script=_auth, screen=True, wait_for=("401", "authenticate", "API key", "Retrying")),
    Case(name="screen-usage-limit", script=usage_for, screen=True, wait_for=("usage limit", "quota", "regain")),
]

# Claude Code retries for minutes before it shows the error itself: these cap its retries.
CLAUDE_GAVE_UP = [
    Case(
        name=f"screen-{name}-gave-up",
        script=script,
        screen=True,
        wait_for=("API Error", "Failed to authenticate", "Invalid API key"),
        env={"CLAUDE_CODE_MAX_RETRIES": "1"},
        note="CLAUDE_CODE_MAX_RETRIES=1",
    )
    for name, script in [("auth-401", _auth), ("rate-limit-429", _rate), ("usage-limit", usage_for)]
]

INTERACTIVE = ("claude", "codex", "aider")


def headless_args(client: str) -> list[str]:
    return {
        "claude": ["-p", PROMPT],
        "codex": ["exec", "--skip-git-repo-check", PROMPT],
        "aider": ["--message", PROMPT, "--yes-always"],
        "llm": [PROMPT],
    }[client]


def interactive_args(client: str, case: Case) -> list[str]:
    if client == "aider" and case.trusted:
        return ["--no-gitignore"]  # the .gitignore question is the question case
    return []


def scrub(text: str, mock: MockAPI, tmp: Path) -> str:
    return (
        text.replace(str(tmp), "<tmp>").replace(f"127.0.0.1:{mock.port}", "127.0.0.1:PORT").replace(FAKE_KEY, "<key>")
    )


class Tmux:
    """A private tmux server for one recording, killed afterwards (and only it)."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20)
        return done.stdout

    def kill(self) -> None:
        """Kill this server and remove its socket file (tmux 3.3 leaves it behind)."""
        self("kill-server")
        folder = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        (folder / self.socket).unlink(missing_ok=True)

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "rec")

    def settle(self, timeout: float, wait_for: tuple[str, ...] = (), quiet: float = 1.5) -> str:
        """Poll the screen until one of `wait_for` shows (if given) or it stops changing, or the timeout."""
        deadline = time.monotonic() + timeout
        last, since = self.screen(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.25)
            now = self.screen()
            if wait_for and any(w.lower() in now.lower() for w in wait_for):
                time.sleep(0.5)  # let the rest of the message draw
                return self.screen()
            if now != last:
                last, since = now, time.monotonic()
            elif not wait_for and now.strip() and time.monotonic() - since >= quiet:
                return now
        return self.screen()


def record(client: str, case: Case) -> Path:
    version = client_version(client)
    tmp = Path(tempfile.mkdtemp(prefix=f"rec-{client}-"))
    with MockAPI() as mock:
        behaviours = case.script(client)
        mock.script(*behaviours, then=behaviours[-1] if isinstance(behaviours[-1], Reply) else None)
        run = prepare(client, mock.url, tmp / "home", git_repo(tmp / "work"))
        if client == "claude" and not case.trusted:
            seed_claude(tmp / "home", run.cwd, trusted=False)
        if client == "codex" and not case.trusted:
            seed_codex(Path(run.env["CODEX_HOME"]), run.cwd, trusted=False)
        env = run.env | case.env
        if client == "claude" and not case.screen and case.name != "headless-answer":
            env["CLAUDE_CODE_MAX_RETRIES"] = "2"
        header = {
            "client": f"{client} {version}",
            "case": case.name,
            "mock": ", ".join(repr(b) for b in behaviours),
        }
        started = time.monotonic()
        if case.screen:
            body, extra = _screen(client, case, run.argv + interactive_args(client, case), env, run.cwd, mock)
        else:
            body, extra = _headless(run.argv + headless_args(client), env, run.cwd, case.timeout)
        header |= extra
        header["seconds"] = f"{time.monotonic() - started:.1f}"
        header["requests"] = str(len(mock.model_requests))
        if case.note and (client == "claude" or not case.note.startswith("claude")):
            header["note"] = case.note
        text = "".join(f"# {k}: {v}\n" for k, v in header.items()) + body
        text = scrub(text, mock, tmp)
    subprocess.run(["rm", "-rf", str(tmp)], check=False)
    path = OUT / client / f"{case.name}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _headless(argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> tuple[str, dict[str, str]]:
    command = shlex.join([Path(argv[0]).name, *argv[1:]])
    try:
        done = subprocess.run(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )
        code, out, err = str(done.returncode), done.stdout, done.stderr
    except subprocess.TimeoutExpired as expired:
        code = f"none: still running after {timeout:.0f}s, killed"
        out = (expired.stdout or b"").decode() if isinstance(expired.stdout, bytes) else (expired.stdout or "")
        err = (expired.stderr or b"").decode() if isinstance(expired.stderr, bytes) else (expired.stderr or "")
    return f"--- stdout\n{out}--- stderr\n{err}", {"command": command, "exit": code}


def _screen(
    client: str, case: Case, argv: list[str], env: dict[str, str], cwd: Path, mock: MockAPI
) -> tuple[str, dict[str, str]]:
    tmux = Tmux(f"rec-{client}-{case.name}-{mock.port}")
    command = "env -i " + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items()) + " " + shlex.join(argv)
    try:
        tmux("new-session", "-d", "-x", "200", "-y", "50", "-s", "rec", "-c", str(cwd), command)
        screen = tmux.settle(timeout=30)
        if case.submit:
            tmux("send-keys", "-t", "rec", "-l", PROMPT)
            time.sleep(0.3)
            tmux("send-keys", "-t", "rec", "Enter")
            deadline = time.monotonic() + 15
            while not mock.model_requests and time.monotonic() < deadline:
                time.sleep(0.1)
            screen = tmux.settle(timeout=case.timeout, wait_for=case.wait_for, quiet=3.0)
        title = tmux("display", "-p", "-t", "rec", "#{pane_title}").strip()
        dead = tmux("display", "-p", "-t", "rec", "#{pane_dead}").strip()
    finally:
        tmux.kill()
    extra = {"command": shlex.join([Path(argv[0]).name, *argv[1:]]), "tmux": "200x50", "pane_title": title}
    if dead == "1":
        extra["pane_dead"] = "1"
    if case.submit:
        extra["typed"] = PROMPT + " <Enter>"
    return "--- screen\n" + screen.rstrip("\n") + "\n", extra


def _try(client: str, case: Case) -> str:
    try:
        return str(record(client, case).relative_to(OUT.parent.parent.parent))
    except Exception as error:  # one client's failure must not lose the other recordings
        return f"failed: {error!r}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clients", nargs="*", default=list(CLIENTS))
    parser.add_argument("--case", action="append", default=[])
    parser.add_argument("--jobs", type=int, default=4)
    args = parser.parse_args()
    jobs = []
    for client in args.clients:
        if client_path(client) is None:
            print(f"{client}: not installed, skipped")
            continue
        cases = HEADLESS + (SCREENS if client in INTERACTIVE else []) + (CLAUDE_GAVE_UP if client == "claude" else [])
        jobs += [(client, c) for c in cases if not args.case or c.name in args.case]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for (client, case), outcome in zip(jobs, pool.map(lambda job: _try(*job), jobs), strict=True):
            print(f"{client}/{case.name}: {outcome}", flush=True)


if __name__ == "__main__":
    main()
