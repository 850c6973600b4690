"""Record what the real interactive clients show for each activity, as the kinds' screen fixtures:
tests/fixtures/screens/<kind>/<activity>.recorded.txt.

    PYTHONPATH=. python3 -m tests.agents.record_screens [KIND ...] [--activity NAME ...]

Each shot runs one client (installed by .ci/install-agents) in a private tmux server (200x50)
against the loopback mock, scripted to bring it into that activity, waits for the words that show
it and keeps the visible screen and the pane title. tests/unit/test_kinds_screens.py checks that
each kind reads each fixture as its activity: re-record when a client's version changes, and fix
the kind's patterns where a real screen is misread.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.mockapi import Hang, MockAPI, Reply, bad_key, rate_limited, server_error, usage_limit
from tests.mockapi.behaviours import Behaviour
from tests.mockapi.clients import client_path, client_version, git_repo, prepare, seed_claude, seed_codex
from tests.mockapi.record import PROMPT, Tmux, scrub

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "screens"
KINDS = ("claude", "codex", "aider")
# What each client shows once it takes input.
READY = {"claude": ("? for shortcuts",), "codex": ("? for shortcuts",), "aider": ("Repo-map:",)}
CLAUDE_LIMIT = "You have reached your specified API usage limits. You will regain access on 2026-12-24 at 00:00 UTC."


@dataclass(frozen=True)
class Shot:
    """One fixture: the kind, the activity, the mock's script and the words that show the activity."""

    kind: str
    activity: str
    script: Callable[[], list[Behaviour]]
    shows: tuple[str, ...]
    submit: bool = True  # type a prompt once the client is ready
    trusted: bool = True  # seed the folder trust (claude, codex) / skip the .gitignore question (aider)
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 90.0


def _reply() -> list[Behaviour]:
    return [Reply(text="Hello, pelican! The mock says hi.")]


def _hang() -> list[Behaviour]:
    return [Hang(120.0, times=10)]


def _auth() -> list[Behaviour]:
    return [bad_key(times=1000)]


def _rate() -> list[Behaviour]:
    return [rate_limited("Please try again in 5s.", times=1000)]


def _server() -> list[Behaviour]:
    return [server_error(times=1000)]


def _claude_limit() -> list[Behaviour]:
    return [usage_limit(CLAUDE_LIMIT, times=1000)]


def _codex_limit() -> list[Behaviour]:
    return [usage_limit("You've hit your usage limit.", times=1000, resets_at=int(time.time()) + 3 * 3600)]


ONE_RETRY = {"CLAUDE_CODE_MAX_RETRIES": "1"}  # claude shows an API error after one retry, not ten

SHOTS = [
    Shot("claude", "waiting", _reply, READY["claude"], submit=False),
    Shot("claude", "working", _hang, ("esc to interrupt",)),
    Shot("claude", "asking", _reply, ("trust",), submit=False, trusted=False),
    Shot("claude", "limited", _claude_limit, ("regain access",), env=ONE_RETRY),
    Shot("claude", "retrying", _auth, ("Retrying in",)),
    Shot("claude", "auth", _auth, ("/login", "Invalid API key", "authenticate"), env=ONE_RETRY),
    Shot("codex", "waiting", _reply, READY["codex"], submit=False),
    Shot("codex", "working", _hang, ("esc to interrupt",)),
    Shot("codex", "asking", _reply, ("Trust this folder",), submit=False, trusted=False),
    Shot("codex", "limited", _codex_limit, ("usage limit",)),
    Shot("codex", "retrying", _server, ("econnecting",)),  # a 429 it gives up on at once
    Shot("codex", "auth", _auth, ("401",)),
    Shot("aider", "waiting", _reply, READY["aider"], submit=False),
    Shot("aider", "working", _hang, ("Waiting for",)),
    Shot("aider", "asking", _reply, ("(Y)es/(N)o",), submit=False, trusted=False),
    # aider retries a 429 for minutes, then shows the error and its prompt again
    Shot("aider", "limited", _rate, ("Please try again in 5s.\n>",), timeout=400),
    Shot("aider", "retrying", _rate, ("Retrying in",)),
    Shot("aider", "auth", _auth, ("not able to authenticate",)),
]


def _args(shot: Shot) -> list[str]:
    return ["--no-gitignore"] if shot.kind == "aider" and shot.trusted else []


def _shows(screen: str, words: tuple[str, ...]) -> bool:
    """Any of the words on screen; a word ending in "\\n>" must be followed by aider's bare prompt."""
    lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
    for word in words:
        text, _, prompt = word.partition("\n")
        if not prompt and text in screen:
            return True
        if prompt and lines and lines[-1].strip() == prompt and text in "\n".join(lines[-8:]):
            return True
    return False


def _wait(tmux: Tmux, words: tuple[str, ...], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _shows(tmux.screen(), words):
            return True
        time.sleep(0.25)
    return False


def shoot(shot: Shot) -> Path:
    """Record one fixture; raises RuntimeError (with the screen) if the activity never showed."""
    version = client_version(shot.kind)
    tmp = Path(tempfile.mkdtemp(prefix=f"shot-{shot.kind}-"))
    try:
        with MockAPI() as mock:
            behaviours = shot.script()
            mock.script(*behaviours)
            run = prepare(shot.kind, mock.url, tmp / "home", git_repo(tmp / "work"))
            if shot.kind == "claude" and not shot.trusted:
                seed_claude(tmp / "home", run.cwd, trusted=False)
            if shot.kind == "codex" and not shot.trusted:
                seed_codex(Path(run.env["CODEX_HOME"]), run.cwd, trusted=False)
            env = run.env | shot.env
            argv = run.argv + _args(shot)
            tmux = Tmux(f"shot-{shot.kind}-{shot.activity}-{mock.port}")
            command = "env -i " + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items()) + " " + shlex.join(argv)
            try:
                tmux("new-session", "-d", "-x", "200", "-y", "50", "-s", "rec", "-c", str(run.cwd), command)
                if shot.submit:
                    if not _wait(tmux, READY[shot.kind], 60):
                        raise RuntimeError(f"{shot.kind} never became ready:\n{tmux.screen()}")
                    tmux.settle(timeout=10)  # the prompt box drawn
                    tmux("send-keys", "-t", "rec", "-l", PROMPT)
                    time.sleep(0.3)
                    tmux("send-keys", "-t", "rec", "Enter")
                if not _wait(tmux, shot.shows, shot.timeout):
                    raise RuntimeError(f"{shot.kind} never showed {shot.activity}:\n{tmux.screen()}")
                time.sleep(1.0)  # let the rest of it draw
                screen = tmux.screen()
                title = tmux("display", "-p", "-t", "rec", "#{pane_title}").strip()
            finally:
                tmux.kill()
            header = {
                "recorded": f"{shot.kind} {version}, by tests/agents/record_screens.py against tests/mockapi",
                "mock": ", ".join(repr(b) for b in behaviours),
                "command": shlex.join([Path(argv[0]).name, *argv[1:]]),
                "typed": f"{PROMPT} <Enter>" if shot.submit else "nothing",
                "pane_title": title,
            }
            text = "".join(f"# {k}: {v}\n" for k, v in header.items()) + "--- screen\n" + screen.rstrip("\n") + "\n"
            text = scrub(text, mock, tmp)
    finally:
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    path = OUT / shot.kind / f"{shot.activity}.recorded.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _try(shot: Shot) -> str:
    try:
        return str(shoot(shot).relative_to(OUT.parent.parent.parent))
    except Exception as error:  # one shot's failure must not lose the others
        return f"failed: {error}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kinds", nargs="*", default=list(KINDS))
    parser.add_argument("--activity", action="append", default=[])
    parser.add_argument("--jobs", type=int, default=3)
    args = parser.parse_args()
    shots = []
    for kind in args.kinds:
        if client_path(kind) is None:
            print(f"{kind}: not installed, skipped")
            continue
        shots += [s for s in SHOTS if s.kind == kind and (not args.activity or s.activity in args.activity)]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for shot, outcome in zip(shots, pool.map(_try, shots), strict=True):
            print(f"{shot.kind}/{shot.activity}: {outcome}", flush=True)


if __name__ == "__main__":
    main()
