"""open_windows' handling of a batch that tmux stops part-way (a scripted tmux, no server).

tmux runs a `;`-joined command line in order and stops at the first command that fails; the
scripted runner below does the same, so these tests pin what the gateway makes of it.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleetctl.tmux import Failure, TmuxGateway, WindowRequest, _Reply, classify


class ScriptedTmux(TmuxGateway):
    def __init__(self, refuse: dict[str, str]) -> None:
        super().__init__("fleetctl-unit", "S")
        self.refuse = refuse  # window name -> what tmux says when it refuses it
        self.killed: list[str] = []
        self.opened = 0

    def _run(self, args: Sequence[str]) -> _Reply:
        self.calls += 1
        commands: list[list[str]] = [[]]
        for arg in args:
            if arg == ";":
                commands.append([])
            else:
                commands[-1].append(arg)
        lines: list[str] = []
        for command in commands:
            if command[0] == "new-window":
                name = command[command.index("-n") + 1]
                if name in self.refuse:
                    return _Reply(code=1, lines=tuple(lines), stderr=self.refuse[name])
                self.opened += 1
                lines.append(f"@{self.opened}\t%{self.opened}\t{1000 + self.opened}")
            elif command[0] == "kill-window":
                self.killed.append(command[2])
        return _Reply(code=0, lines=tuple(lines), stderr="")


def requests(*names: str) -> list[WindowRequest]:
    return [WindowRequest(name=n, argv=("sleep", "100"), cwd="/", pipe="exec cat >> /dev/null") for n in names]


def test_one_refused_window_in_a_call_leaves_the_others_opening() -> None:
    tmux = ScriptedTmux({"bad": "create window failed: index 14 in use"})
    result = tmux.open_windows(requests("a", "bad", "c", "d"), close_first=["@90", "@91"])
    assert [w.name for w in result.opened] == ["a", "c", "d"]
    assert [(f.name, f.reason) for f in result.failed] == [("bad", "create window failed: index 14 in use")]
    assert result.reason("bad") == "create window failed: index 14 in use" and result.reason("c") is None
    assert tmux.calls == 3  # a (stopped at bad), bad alone (refused), then c, d and the closing
    assert tmux.killed == ["@90", "@91"]  # closed once, after the new windows


def test_a_refused_last_window_is_reported_and_the_old_windows_still_close() -> None:
    tmux = ScriptedTmux({"z": "create window failed: no space"})
    result = tmux.open_windows(requests("a", "z"), close_first=["@90"])
    assert [w.name for w in result.opened] == ["a"] and result.reason("z") == "create window failed: no space"
    assert tmux.killed == ["@90"]


def test_a_server_gone_fails_every_window_in_one_call() -> None:
    tmux = ScriptedTmux({"a": "no server running on /tmp/tmux-0/fleetctl-unit"})
    result = tmux.open_windows(requests("a", "b", "c"))
    assert not result.opened and [f.name for f in result.failed] == ["a", "b", "c"]
    assert tmux.calls == 1


def test_tmux_stderr_is_classified_in_one_place() -> None:
    assert classify("no server running on /tmp/tmux-0/x") is Failure.DOWN
    assert classify("error connecting to /tmp/tmux-0/x (No such file or directory)") is Failure.DOWN
    assert classify("can't find session: fleet") is Failure.DOWN
    assert classify("can't find window: @4") is Failure.GONE
    assert classify("can't find pane: %7") is Failure.GONE
    assert classify("create window failed: index 4 in use") is Failure.OTHER
