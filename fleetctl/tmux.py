"""TmuxGateway: the only module that runs tmux.

Every fleet owns a private server, libtmux's `Server(socket_name="fleetctl-<name>")`
(`tmux -L fleetctl-<name>`); nothing here can reach a person's own tmux server. Actions
go through the server's command runner (`Server.cmd`), and a batch goes as one tmux
invocation with its commands joined by `;`: opening N windows costs one tmux call, not N.

The exception is the bulk `list-panes -a` of an observation, the one tmux call of
`status`: it is a plain posix_spawn, and libtmux is imported only by the first action.
Measured on the 2-core dev machine: `import libtmux` costs 66-100 ms (`python -X
importtime`), against about 100 ms for a whole `status --json`; `import subprocess`
costs 3-4 ms. Per call the runners cost the same: median of 200 `list-panes` 3.5-4.1 ms
through `Server.cmd`, 3.5-3.9 ms through `subprocess.run`, 3.3-3.7 ms posix_spawn.

What tmux says on stderr is classified in one place (`classify`): no server means the
fleet is down, a missing window or pane means it is gone, anything else is a TmuxError
naming the subcommand.
"""

from __future__ import annotations

import contextlib
import enum
import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from fleetctl import logger
from fleetctl.errors import OperationFailed
from fleetctl.model import PaneInfo
from fleetctl.record import record

if TYPE_CHECKING:
    from libtmux.server import Server

SESSION_WIDTH = 200
SESSION_HEIGHT = 50
HOME_WINDOW = "_fleet"
_PANE_FORMAT = "\t".join(
    [
        "#{session_name}",
        "#{window_id}",
        "#{window_name}",
        "#{pane_id}",
        "#{pane_pid}",
        "#{pane_dead}",
        "#{pane_dead_status}",
        "#{window_activity}",
        "#{window_index}",
        "#{pane_title}",  # last: a title may hold any text
    ]
)
_SPAWN_FORMAT = "#{window_id}\t#{pane_id}\t#{pane_pid}"
# A tmux client sends its whole command line in one message (about 16 KiB at most).
MAX_CALL_BYTES = 12_000
# The hooks that wake the supervise loop (a backup for the wrapper's own wake).
_WAKE_HOOKS = ("pane-died", "pane-exited", "window-unlinked")
_GLOBAL_OPTIONS = (
    ("-g", "-w", "remain-on-exit", "on"),
    ("-g", "history-limit", "5000"),
    ("-g", "exit-empty", "on"),
    ("-g", "default-shell", "/bin/sh"),  # pipe-pane and hooks: no bash start-up
)


class Failure(enum.Enum):
    """What a failed tmux command means for the fleet."""

    DOWN = "down"  # no server, or no fleet session on it: the fleet is not running
    GONE = "gone"  # the window or pane it named is not there (any more)
    OTHER = "other"


_DOWN_MARKERS = ("no server running", "error connecting to", "server exited unexpectedly", "can't find session")
_GONE_MARKERS = ("can't find window", "can't find pane")


def classify(stderr: str) -> Failure:
    if any(marker in stderr for marker in _DOWN_MARKERS):
        return Failure.DOWN
    if any(marker in stderr for marker in _GONE_MARKERS):
        return Failure.GONE
    return Failure.OTHER


class TmuxError(OperationFailed):
    def __init__(self, subcommand: str, stderr: str) -> None:
        self.reason = stderr.strip() or "no error text"
        super().__init__(f"tmux {subcommand} failed: {self.reason}")
        self.subcommand = subcommand
        self.stderr = stderr
        self.failure = classify(stderr)


@record
class WindowRequest:
    """A window to open: its name, environment (no secrets here: it is argv) and argv."""

    name: str
    argv: tuple[str, ...]
    cwd: str
    env: tuple[tuple[str, str], ...] = ()
    pipe: str | None = None  # pipe-pane command, attached in the same tmux call (no output is missed)


@record
class OpenedWindow:
    name: str
    window_id: str
    pane_id: str
    pid: int


@record
class FailedWindow:
    """A window tmux refused to open, and tmux's reason."""

    name: str
    reason: str


@record
class OpenedWindows:
    """What `open_windows` did: the windows that opened and those that failed."""

    opened: tuple[OpenedWindow, ...] = ()
    failed: tuple[FailedWindow, ...] = ()

    def reason(self, name: str) -> str | None:
        """Why the window `name` failed to open; None if it did not fail."""
        return next((f.reason for f in self.failed if f.name == name), None)


@record
class _Reply:
    code: int
    lines: tuple[str, ...]
    stderr: str


def _size(args: Sequence[str]) -> int:
    return sum(len(a.encode()) + 1 for a in args)


def _joined(commands: Iterable[Sequence[str]]) -> list[str]:
    """One tmux command line: the commands separated by `;`."""
    args: list[str] = []
    for command in commands:
        args += [";", *command] if args else list(command)
    return args


def _import_libtmux() -> None:
    """Import libtmux, also under the TUI: libtmux reads `sys.stdout.encoding` as it is imported
    (libtmux._compat), and Textual's capture of stdout has no such attribute."""
    import sys

    if "libtmux.server" in sys.modules or hasattr(sys.stdout, "encoding"):
        return
    captured = sys.stdout
    sys.stdout = sys.__stdout__ or sys.stderr
    try:
        import libtmux.server  # noqa: F401 - imported for the side effect, once
    finally:
        sys.stdout = captured


class TmuxGateway:
    """All tmux access for one fleet's private server."""

    def __init__(self, socket_name: str, session: str) -> None:
        self.socket_name = socket_name
        self.session = session
        self.calls = 0
        self._server: Server | None = None

    @property
    def server(self) -> Server:
        """libtmux's handle on the private server (imported here: `status` never needs it)."""
        if self._server is None:
            _import_libtmux()
            from libtmux.server import Server

            self._server = Server(socket_name=self.socket_name)
        return self._server

    def _argv(self, args: Sequence[str]) -> list[str]:
        return ["tmux", "-L", self.socket_name, *args]

    def _run(self, args: Sequence[str]) -> _Reply:
        """One tmux invocation through libtmux's command runner."""
        server = self.server
        from libtmux import exc

        self.calls += 1
        try:
            reply = server.cmd(*args)
        except exc.TmuxCommandNotFound:
            raise TmuxError(args[0], "tmux is not installed (no `tmux` on PATH)") from None
        return _Reply(code=reply.returncode, lines=tuple(reply.stdout), stderr="\n".join(reply.stderr))

    def _check(self, args: Sequence[str], tolerate: Iterable[Failure] = ()) -> tuple[str, ...]:
        """Run a command; a failure raises TmuxError unless its kind is tolerated."""
        reply = self._run(args)
        if reply.code != 0:
            error = TmuxError(args[0], reply.stderr)
            if error.failure not in tolerate:
                raise error
        return reply.lines

    # --- reading (lenient: a missing server is an answer, not an error) ---------

    def panes(self) -> list[PaneInfo] | None:
        """Every pane of this fleet's session in one `list-panes -a`; None if the server is down."""
        return self.panes_started()()

    def panes_started(self) -> Callable[[], list[PaneInfo] | None]:
        """Start the `list-panes -a` now and return what collects its answer, so a caller can
        scan processes while tmux replies."""
        self.calls += 1
        args = self._argv(["list-panes", "-a", "-F", _PANE_FORMAT])
        env = dict(os.environ)
        env.pop("TMUX", None)
        # posix_spawn, neither libtmux nor subprocess: this is the one tmux call of `status`,
        # and importing them costs it 66-100 ms and 3-4 ms (see the module's docstring).
        # stdout and stderr share one pipe.
        read_end, write_end = os.pipe()
        try:
            actions = [(os.POSIX_SPAWN_DUP2, write_end, 1), (os.POSIX_SPAWN_DUP2, write_end, 2)]
            pid = os.posix_spawnp(args[0], args, env, file_actions=actions)
        except OSError:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)

        def collect() -> list[PaneInfo] | None:
            chunks = []
            try:
                while chunk := os.read(read_end, 65536):
                    chunks.append(chunk)
            finally:
                os.close(read_end)
                code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            output = b"".join(chunks).decode(errors="replace")
            if code != 0:
                error = TmuxError("list-panes", output)
                if error.failure is Failure.DOWN:
                    return None
                raise error
            return self._parse_panes(output)

        return collect

    def _parse_panes(self, stdout: str) -> list[PaneInfo]:
        panes = []
        for line in stdout.splitlines():
            parts = line.split("\t", 9)
            if len(parts) != 10 or parts[0] != self.session:
                continue
            _, window_id, window_name, pane_id, pid, dead, dead_status, activity, index, title = parts
            panes.append(
                PaneInfo(
                    window_id=window_id,
                    window_name=window_name,
                    pane_id=pane_id,
                    pid=int(pid or 0),
                    dead=dead == "1",
                    dead_status=int(dead_status) if dead_status.lstrip("-").isdigit() else None,
                    activity=float(activity or 0),
                    window_index=int(index) if index.isdigit() else -1,
                    title=title,
                )
            )
        return panes

    def capture(self, pane_id: str, lines: int = 20) -> str:
        """The pane's last lines (also of a dead pane); empty if the pane is gone."""
        reply = self._run(["capture-pane", "-p", "-J", "-S", f"-{lines}", "-t", pane_id])
        if reply.code != 0:
            return ""
        return "\n".join(line.rstrip() for line in reply.lines[-lines:])

    def capture_screens(self, pane_ids: Sequence[str]) -> dict[str, str]:
        """The visible screen of each pane, all in one tmux call: a marker line (display-message)
        before each capture-pane says whose lines follow. A pane that is gone is left out."""
        if not pane_ids:
            return {}
        marker = f"=fleetctl-screen-{os.getpid()}="  # printable: libtmux strips whitespace (\x1f too)
        commands = []
        for pane_id in pane_ids:
            # the id from a format: tmux runs a message through strftime, where `%3` is no pane id
            commands.append(["display-message", "-p", "-t", pane_id, f"{marker}#{{pane_id}}"])
            commands.append(["capture-pane", "-p", "-t", pane_id])
        reply = self._run(_joined(commands))
        if reply.code != 0 and len(pane_ids) > 1 and classify(reply.stderr) is Failure.GONE:
            # tmux stops a sequence at its first failure: one gone pane must not hide the rest
            out: dict[str, str] = {}
            for pane_id in pane_ids:
                out.update(self.capture_screens([pane_id]))
            return out
        screens: dict[str, list[str]] = {}
        current: list[str] | None = None
        for line in reply.lines:
            if line.startswith(marker):
                current = screens.setdefault(line[len(marker) :], [])
            elif current is not None:
                current.append(line.rstrip())
        wanted = set(pane_ids)
        return {pane_id: "\n".join(lines) for pane_id, lines in screens.items() if pane_id in wanted}

    # --- writing (loud) -------------------------------------------------------------

    def ensure_session(self, cwd: str, wake_fifo: str | None) -> None:
        """Create the server and session if needed, with fleet-wide options set once."""
        import shlex

        if self._run(["has-session", "-t", f"={self.session}"]).code == 0:
            return
        # The home window keeps the session while no agent runs; SIGHUP from kill-server ends it.
        session = ["new-session", "-d", "-s", self.session, "-n", HOME_WINDOW, "-c", cwd]
        session += ["-x", str(SESSION_WIDTH), "-y", str(SESSION_HEIGHT), "-e", f"FLEET_NAME={self.session}"]
        session += ["--", "sleep", "2147483647"]
        commands = [session, *(["set-option", *option] for option in _GLOBAL_OPTIONS)]
        if wake_fifo:
            wake = f"run-shell -b {shlex.quote('printf x 1<> ' + shlex.quote(wake_fifo))}"
            commands += [["set-hook", "-g", hook, wake] for hook in _WAKE_HOOKS]
        reply = self._run(_joined(commands))
        if reply.code != 0 and "duplicate session" not in reply.stderr:
            raise TmuxError("new-session", reply.stderr)

    def open_windows(self, requests: Sequence[WindowRequest], close_first: Sequence[str] = ()) -> OpenedWindows:
        """Open every window in as few tmux invocations as tmux accepts; ids come back from `-P -F`.

        tmux places each window when it runs the command: after the session's last window
        (`-a -t =SESSION:{end}`), which is then the one its pipe-pane names in the same call.
        No index is chosen beforehand, so windows opened meanwhile (by this same pass, or
        another process) cannot collide with it. tmux reads no pane output until the whole
        sequence has run, so logs miss nothing. A tmux client message is limited in size,
        so a large batch goes as several calls of at most MAX_CALL_BYTES each.

        tmux stops a sequence at its first failing command. A window that fails as the
        first command of a call is reported with tmux's reason, and the rest go on in the
        next call: one bad window never keeps the others from opening. `close_first`
        windows (dead panes of replaced runs) are closed at the end of the last call, so
        that new agents start before tmux tears the old windows down (their hooks
        included); if that fails (one was gone already), they are closed one by one.
        """
        kills = [["kill-window", "-t", wid] for wid in dict.fromkeys(close_first)]
        commands = [self._window_command(req) for req in requests]
        opened: list[OpenedWindow] = []
        failed: list[FailedWindow] = []
        first = 0
        while first < len(requests):
            end = self._fits(commands, first)
            closing = end == len(requests) and bool(kills)
            if closing and _size(_joined(commands[first:end] + kills)) > MAX_CALL_BYTES:
                closing = False
            reply = self._run(_joined(commands[first:end] + (kills if closing else [])))
            batch = requests[first:end]
            for req, line in zip(batch, reply.lines, strict=False):
                window_id, pane_id, pid = line.split("\t")
                opened.append(OpenedWindow(name=req.name, window_id=window_id, pane_id=pane_id, pid=int(pid)))
            done = min(len(reply.lines), len(batch))
            if reply.code == 0:
                kills = [] if closing else kills
                first = end
                continue
            error = TmuxError("new-window", reply.stderr)
            if error.failure is Failure.DOWN:
                failed += [FailedWindow(name=req.name, reason=error.reason) for req in requests[first + done :]]
                kills = []
                break
            if done == 0:  # the call's first window: tmux refused it
                logger.get(__name__).warning("tmux new-window failed", extra={"tmux_stderr": reply.stderr})
                failed.append(FailedWindow(name=batch[0].name, reason=error.reason))
                first += 1
            elif done < len(batch):  # a later command: its window goes first in the next call
                first += done
            else:  # every window opened: the last one's pipe-pane or a kill-window failed
                if not closing:
                    logger.get(__name__).warning("tmux pipe-pane failed", extra={"tmux_stderr": reply.stderr})
                first = end
        self.kill_windows([command[2] for command in kills])
        return OpenedWindows(opened=tuple(opened), failed=tuple(failed))

    def _window_command(self, req: WindowRequest) -> list[str]:
        after_last = f"={self.session}:{{end}}"
        command = ["new-window", "-d", "-a", "-t", after_last, "-P", "-F", _SPAWN_FORMAT, "-n", req.name]
        command += ["-c", req.cwd]
        for key, value in req.env:
            command += ["-e", f"{key}={value}"]
        command += ["--", *req.argv]
        if req.pipe:
            command += [";", "pipe-pane", "-t", after_last, req.pipe]
        return command

    @staticmethod
    def _fits(commands: Sequence[Sequence[str]], first: int) -> int:
        """The end of the run of commands from `first` that fits one call (at least one command)."""
        size = _size(commands[first])
        end = first + 1
        while end < len(commands) and size + 2 + _size(commands[end]) <= MAX_CALL_BYTES:
            size += 2 + _size(commands[end])
            end += 1
        return end

    def kill_windows(self, window_ids: Iterable[str]) -> None:
        """Close windows in one call; already-gone ones are fine.

        One failing kill-window stops the rest of a tmux sequence, so on an error each
        window is closed on its own (rare: a window closed by someone else meanwhile).
        """
        ids = list(dict.fromkeys(window_ids))
        if not ids:
            return
        reply = self._run(_joined(["kill-window", "-t", wid] for wid in ids))
        if reply.code == 0 or classify(reply.stderr) is Failure.DOWN or len(ids) == 1:
            return
        for wid in ids:
            self._run(["kill-window", "-t", wid])

    def repipe(self, pane_id: str, command: str) -> None:
        """Point a pane's output pipe at a new command (closes the old pipe first)."""
        self._run(["pipe-pane", "-t", pane_id, ";", "pipe-pane", "-t", pane_id, command])

    def send_text(self, pane_id: str, text: str) -> None:
        """Type literal text and Enter into a pane (a 'wake')."""
        self._check(["send-keys", "-t", pane_id, "-l", "--", text, ";", "send-keys", "-t", pane_id, "Enter"])

    def send_keys(self, pane_id: str, keys: Sequence[str], text: str | None = None) -> None:
        """Type literal text first (if any), then tmux key names (Enter, Escape, C-c, 1), in one call."""
        commands: list[list[str]] = []
        if text:
            commands.append(["send-keys", "-t", pane_id, "-l", "--", text])
        if keys:
            commands.append(["send-keys", "-t", pane_id, *keys])
        if commands:
            self._check(_joined(commands))

    def paste(self, pane_id: str, text: str, submit: Sequence[str]) -> None:
        """Paste text as one bracketed paste (the client sees one prompt, not keystrokes), then press
        the submit keys, in one call."""
        buffer = f"fleetctl-{os.getpid()}"
        commands = [["set-buffer", "-b", buffer, "--", text], ["paste-buffer", "-p", "-d", "-b", buffer, "-t", pane_id]]
        if submit:
            commands.append(["send-keys", "-t", pane_id, *submit])
        self._check(_joined(commands))

    def ready_to_act(self) -> None:
        """Load libtmux now: a long-running loop should not pay its import (~60 ms) at its
        first action, which is the first respawn of a crashed agent."""
        _ = self.server

    def drop_wake_hooks(self) -> None:
        """Before the whole fleet stops: each closing window would otherwise start a run-shell
        job, and the server does not exit until its jobs have (at a hundred windows, teardown
        takes twice as long)."""
        self._check(_joined(["set-hook", "-gu", hook] for hook in _WAKE_HOOKS), tolerate=[Failure.DOWN])

    def kill_server(self) -> None:
        self._check(["kill-server"], tolerate=[Failure.DOWN])

    def attach_argv(self, window_id: str, inside_tmux: bool) -> list[str]:
        """The argv a person's terminal should exec to look at one window."""
        if inside_tmux:
            return self._argv(["switch-client", "-t", window_id])
        return self._argv(["attach-session", "-t", f"={self.session}", ";", "select-window", "-t", window_id])

    def remove_socket(self) -> None:
        """Delete the socket file of a server that has exited: tmux 3.3 leaves it behind, so
        every fleet that was brought down would leave a file in the socket directory."""
        import socket

        path = self.socket_path()
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except ConnectionRefusedError:  # a file that nothing listens on: the exited server's
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        except OSError:
            pass  # no file, or not ours to judge
        finally:
            probe.close()

    def socket_path(self) -> str:
        uid = os.getuid()
        base = os.environ.get("TMUX_TMPDIR", "/tmp")
        return f"{base}/tmux-{uid}/{self.socket_name}"
