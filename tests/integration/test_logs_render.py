"""`fleetctl logs` shows an interactive agent's output as its screen showed it: the bytes a real
client's screen was drawn with (a recorded Claude Code screen, redrawn as the client draws it:
kitty-keyboard and bracketed-paste modes, cursor moves, colours, a spinner) go through the
agent's pane into its log, and `logs` prints the screen's lines. `--raw` keeps the bytes,
`--color` the colours."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys

from tests.conftest import REPO, FleetHarness, wait_for

SCREEN = REPO / "tests/fixtures/recorded/claude/screen-working.txt"
SPINNER_ROW = "✻ Zigzagging… (8s · ↓ 2 tokens)"
FRAMES = ["· Zigzagging… (1s)", "✢ Zigzagging… (3s · ↓ 1 tokens)", "✳ Zigzagging… (5s · ↓ 1 tokens)"]
END = "\x1b[?25h\x1b[50;1H"


def screen_lines() -> list[str]:
    text = SCREEN.read_text()
    lines = text.split("--- screen\n", 1)[1].split("\n--- ", 1)[0].splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.rstrip() for line in lines]


def drawn(lines: list[str]) -> bytes:
    """The screen as an interactive client draws it: modes, a clear, each row placed and coloured,
    the spinner row redrawn in place before its last frame."""
    out = ["\x1b[?2004h\x1b[>4;2m\x1b[>1u\x1b[<u\x1b[?25l\x1b]0;✳ Claude Code\x07\x1b[2J\x1b[H"]
    spinner = lines.index(SPINNER_ROW) + 1
    for row, line in enumerate(lines, start=1):
        if row == spinner:
            for frame in FRAMES:
                out.append(f"\x1b[{row};1H\x1b[2K\x1b[38;5;174m{frame[0]}\x1b[39m{frame[1:]}")
        coloured = line.replace("Claude Code", "\x1b[1;38;2;215;119;87mClaude Code\x1b[0m")
        if row == spinner:
            coloured = f"\x1b[38;5;174m{line[0]}\x1b[39m{line[1:]}"
        out.append(f"\x1b[{row};1H\x1b[2K{coloured}")
    out.append(END)
    return "".join(out).encode()


def start(fleet_dir: FleetHarness, data: bytes) -> None:
    raw = fleet_dir.dir / "client.bin"
    raw.write_bytes(data)
    fleet_dir.write(f"""
    [agents.claude]
    command = "cat {raw}; exec sleep 1000"
    min_uptime = "0.2s"
    """)
    assert fleet_dir.run("up").code == 0
    wait_for(lambda: END in fleet_dir.run("logs", "--raw", "claude").out, what="the whole screen in the log")


def test_logs_shows_the_screen_not_the_bytes(fleet_dir: FleetHarness) -> None:
    lines = screen_lines()
    start(fleet_dir, drawn(lines))
    result = fleet_dir.run("logs", "claude")
    assert result.code == 0, result
    assert result.out.splitlines() == lines
    assert "\\x1b" not in result.out and "[<u" not in result.out and "4;2m" not in result.out
    assert not any(frame in result.out for frame in FRAMES)  # spinner frames collapsed to the last
    tail = fleet_dir.run("logs", "-n", "3", "claude").out.splitlines()
    assert tail == lines[-3:]


def test_logs_raw_keeps_the_bytes_and_color_the_colours(fleet_dir: FleetHarness) -> None:
    lines = screen_lines()
    start(fleet_dir, drawn(lines))
    raw = fleet_dir.run("logs", "--raw", "claude").out
    assert "\x1b[<u" in raw and all(frame[2:] in raw for frame in FRAMES)
    coloured = fleet_dir.run("logs", "--color", "claude").out.splitlines()
    header = coloured[0]
    assert "\x1b[0;1;38;2;215;119;87mClaude Code\x1b[0m" in header
    spinner = coloured[lines.index(SPINNER_ROW)]
    assert spinner.startswith("\x1b[0;38;2;215;135;135m✻\x1b[0m")  # xterm-256 colour 174, as pyte gives it
    strip = [line.replace("\x1b[0;1;38;2;215;119;87m", "").replace("\x1b[0;38;2;215;135;135m", "") for line in coloured]
    assert [line.replace("\x1b[0m", "") for line in strip] == lines


def test_a_log_written_line_by_line_keeps_its_lines(fleet_dir: FleetHarness) -> None:
    start(fleet_dir, b"".join(b"\x1b[32mGET\x1b[0m /items?page=%d 200\r\n" % n for n in range(1, 301)) + END.encode())
    shown = fleet_dir.run("logs", "-n", "5", "claude").out.splitlines()
    assert shown == [f"GET /items?page={n} 200" for n in range(296, 301)]


def test_logs_follow_prints_each_line_once_as_the_screen_settles_it(fleet_dir: FleetHarness) -> None:
    go = fleet_dir.dir / "go"
    script = fleet_dir.dir / "agent.sh"
    script.write_text(
        "printf '\\033[1mline 1\\033[0m\\n'\n"
        f"while [ ! -e {go} ]; do sleep 0.05; done\n"
        "printf 'spin |'; sleep 0.1; printf '\\rspin /'; sleep 0.1; printf '\\rspin done\\n\\033[>4;2mafter\\n'\n"
        "exec sleep 1000\n"
    )
    fleet_dir.write(f"""
    [agents.worker]
    command = "sh {script}"
    min_uptime = "0.2s"
    """)
    assert fleet_dir.run("up").code == 0
    wait_for(lambda: "line 1" in fleet_dir.run("logs", "worker").out, what="the first line in the log")
    argv = [sys.executable, "-m", "fleetctl", "-c", str(fleet_dir.path), "logs", "-f", "worker"]
    follower = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got = b""

    def read_until(text: bytes) -> bool:
        nonlocal got
        assert follower.stdout is not None
        while select.select([follower.stdout], [], [], 0.05)[0]:
            chunk = os.read(follower.stdout.fileno(), 4096)
            if not chunk:
                break
            got += chunk
        return text in got

    try:
        wait_for(lambda: read_until(b"line 1\n"), what="the tail before following")
        go.touch()
        wait_for(lambda: read_until(b"after\n"), what="the followed lines", explain=lambda: repr(got))
    finally:
        follower.send_signal(signal.SIGINT)
        follower.wait(timeout=10)
    assert got.decode().splitlines() == ["line 1", "spin done", "after"]
