"""TmuxGateway: the only module that runs tmux.

Every fleet owns a private server (`tmux -L fleetctl-<name>`); nothing here can reach a
person's own tmux server. Batches of commands go to tmux as one invocation joined with
`;`, so observing or spawning N agents costs one subprocess, not N.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Sequence

from fleetctl import logger
from fleetctl.errors import OperationFailed
from fleetctl.model import PaneInfo
from fleetctl.record import record

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every command milliseconds
if TYPE_CHECKING:
    import subprocess

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
    ]
)
_SPAWN_FORMAT = "#{window_id}\t#{pane_id}\t#{pane_pid}"
# A tmux client sends its whole command line in one message (about 16 KiB at most).
MAX_CALL_BYTES = 12_000
_NOT_RUNNING = ("no server running", "error connecting to", "server exited unexpectedly")
# The hooks that wake the supervise loop (a backup for the wrapper's own wake).
_WAKE_HOOKS = ("pane-died", "pane-exited", "window-unlinked")


class TmuxError(OperationFailed):
    def __init__(self, subcommand: str, stderr: str) -> None:
        super().__init__(f"tmux {subcommand} failed: {stderr.strip() or 'no error text'}")
        self.subcommand = subcommand
        self.stderr = stderr


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


def _size(args: Sequence[str]) -> int:
    return sum(len(a.encode()) + 1 for a in args)


def _is_not_running(stderr: str) -> bool:
    return any(marker in stderr for marker in _NOT_RUNNING)


class TmuxGateway:
    """All tmux access for one fleet's private server."""

    def __init__(self, socket_name: str, session: str) -> None:
        self.socket_name = socket_name
        self.session = session
        self.calls = 0

    def _argv(self, args: Sequence[str]) -> list[str]:
        return ["tmux", "-L", self.socket_name, *args]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("TMUX", None)
        return env

    def _run(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        import subprocess  # not at the top: `status` lists panes without it

        self.calls += 1
        return subprocess.run(self._argv(args), capture_output=True, text=True, env=self._env(), check=False)

    def _check(self, args: Sequence[str]) -> str:
        result = self._run(args)
        if result.returncode != 0:
            raise TmuxError(args[0], result.stderr)
        return result.stdout

    # --- reading (lenient: a missing server is an answer, not an error) ---------

    def panes(self) -> list[PaneInfo] | None:
        """Every pane of this fleet's session in one `list-panes -a`; None if the server is down."""
        return self.panes_started()()

    def panes_started(self) -> Callable[[], list[PaneInfo] | None]:
        """Start the `list-panes -a` now and return what collects its answer, so a caller can
        scan /proc while tmux replies."""
        self.calls += 1
        args = self._argv(["list-panes", "-a", "-F", _PANE_FORMAT])
        # posix_spawn, not subprocess: this is the one tmux call of `status`, and the subprocess
        # module costs milliseconds to import. stdout and stderr share one pipe.
        read_end, write_end = os.pipe()
        try:
            pid = os.posix_spawnp(args[0], args, self._env(), file_actions=[
                (os.POSIX_SPAWN_DUP2, write_end, 1), (os.POSIX_SPAWN_DUP2, write_end, 2)])  # fmt: skip
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
                if _is_not_running(output):
                    return None
                raise TmuxError("list-panes", output)
            return self._parse_panes(output)

        return collect

    def _parse_panes(self, stdout: str) -> list[PaneInfo]:
        panes = []
        for line in stdout.splitlines():
            parts = line.split("\t")
            if len(parts) != 9 or parts[0] != self.session:
                continue
            _, window_id, window_name, pane_id, pid, dead, dead_status, activity, index = parts
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
                )
            )
        return panes

    def capture(self, pane_id: str, lines: int = 20) -> str:
        """The pane's last lines (also of a dead pane); empty if the pane is gone."""
        result = self._run(["capture-pane", "-p", "-J", "-S", f"-{lines}", "-t", pane_id])
        if result.returncode != 0:
            return ""
        return "\n".join(line.rstrip() for line in result.stdout.rstrip("\n").splitlines()[-lines:])

    # --- writing (loud) -------------------------------------------------------------

    def ensure_session(self, cwd: str, wake_fifo: str | None) -> None:
        """Create the server and session if needed, with fleet-wide options set once."""
        import shlex

        result = self._run(["has-session", "-t", f"={self.session}"])
        if result.returncode == 0:
            return
        # The home window keeps the session while no agent runs; SIGHUP from kill-server ends it.
        args = [
            "new-session", "-d", "-s", self.session, "-n", HOME_WINDOW,
            "-x", str(SESSION_WIDTH), "-y", str(SESSION_HEIGHT), "-c", cwd,
            "-e", f"FLEET_NAME={self.session}",
            "--", "sleep", "2147483647",
            ";", "set-option", "-g", "-w", "remain-on-exit", "on",
            ";", "set-option", "-g", "history-limit", "5000",
            ";", "set-option", "-g", "exit-empty", "on",
            ";", "set-option", "-g", "default-shell", "/bin/sh",  # pipe-pane and hooks: no bash start-up
        ]  # fmt: skip
        if wake_fifo:
            wake = f"run-shell -b {shlex.quote('printf x 1<> ' + shlex.quote(wake_fifo))}"
            for hook in _WAKE_HOOKS:
                args += [";", "set-hook", "-g", hook, wake]
        result = self._run(args)
        if result.returncode != 0 and "duplicate session" not in result.stderr:
            raise TmuxError("new-session", result.stderr)

    def open_windows(
        self, requests: Sequence[WindowRequest], close_first: Sequence[str] = (), taken: Iterable[int] | None = None
    ) -> list[OpenedWindow]:
        """Open every window in as few tmux invocations as tmux accepts; ids come back from `-P -F`.

        Each window gets an explicit free index so its pipe-pane can target it in the same
        call: tmux reads no pane output until the whole sequence has run, so logs miss
        nothing and no per-window tmux client is needed. A tmux client message is limited
        in size, so a large batch goes as several calls of at most MAX_CALL_BYTES each.
        `taken` is the indexes in use (from the caller's observation; asked of tmux when not
        given). `close_first` windows (dead panes of replaced runs) are closed at the end of
        the last call, so that new agents start before tmux tears the old windows down (their
        hooks included); if one is already gone tmux stops there, and the rest are closed
        one by one.
        """
        if not requests:
            self.kill_windows(close_first)
            return []
        used = set(self._window_indexes() if taken is None else taken) | {0}
        free = (i for i in range(1, 1 << 30) if i not in used)
        calls: list[tuple[list[WindowRequest], list[str]]] = [([], [])]
        size = 0  # of the last call's args, kept as we go: summing them per window is quadratic
        for req in requests:
            target = f"={self.session}:{next(free)}"
            command = ["new-window", "-d", "-P", "-F", _SPAWN_FORMAT, "-t", target, "-n", req.name, "-c", req.cwd]
            for key, value in req.env:
                command += ["-e", f"{key}={value}"]
            command += ["--", *req.argv]
            if req.pipe:
                command += [";", "pipe-pane", "-t", target, req.pipe]
            batch, args = calls[-1]
            command_size = _size(command)
            if batch and size + command_size > MAX_CALL_BYTES:
                calls.append(([], []))
                batch, args = calls[-1]
                size = 0
            if batch:
                args.append(";")
                size += 2
            args.extend(command)
            size += command_size
            batch.append(req)
        kills = [arg for wid in dict.fromkeys(close_first) for arg in (";", "kill-window", "-t", wid)]
        if kills and size + _size(kills) > MAX_CALL_BYTES:
            calls.append(([], []))
        calls[-1][1].extend(kills[1:] if not calls[-1][1] else kills)
        opened: list[OpenedWindow] = []
        for batch, args in calls:
            result = self._run(args)
            lines = result.stdout.splitlines()
            for req, line in zip(batch, lines, strict=False):
                window_id, pane_id, pid = line.split("\t")
                opened.append(OpenedWindow(req.name, window_id, pane_id, int(pid)))
            if result.returncode != 0 and len(lines) < len(batch):
                logger.get(__name__).warning("tmux new-window failed", extra={"tmux_stderr": result.stderr})
                if not opened:
                    self.kill_windows(close_first)
                    raise TmuxError("new-window", result.stderr)
        if close_first and result.returncode != 0:
            self.kill_windows(close_first)  # one was gone already (or a window failed to open)
        return opened

    def _window_indexes(self) -> list[int]:
        result = self._run(["list-windows", "-t", f"={self.session}", "-F", "#{window_index}"])
        return [int(x) for x in result.stdout.split() if x.isdigit()] if result.returncode == 0 else []

    def kill_windows(self, window_ids: Iterable[str]) -> None:
        """Close windows in one call; already-gone ones are fine.

        One failing kill-window stops the rest of a tmux sequence, so on an error each
        window is closed on its own (rare: a window closed by someone else meanwhile).
        """
        ids = list(dict.fromkeys(window_ids))
        if not ids:
            return
        args: list[str] = []
        for wid in ids:
            args += ([";"] if args else []) + ["kill-window", "-t", wid]
        result = self._run(args)
        if result.returncode == 0 or _is_not_running(result.stderr) or len(ids) == 1:
            return
        for wid in ids:
            self._run(["kill-window", "-t", wid])

    def repipe(self, pane_id: str, command: str) -> None:
        """Point a pane's output pipe at a new command (closes the old pipe first)."""
        self._run(["pipe-pane", "-t", pane_id, ";", "pipe-pane", "-t", pane_id, command])

    def send_text(self, pane_id: str, text: str) -> None:
        """Type literal text and Enter into a pane (a 'wake')."""
        self._check(["send-keys", "-t", pane_id, "-l", "--", text, ";", "send-keys", "-t", pane_id, "Enter"])

    def drop_wake_hooks(self) -> None:
        """Before the whole fleet stops: each closing window would otherwise start a run-shell
        job, and the server does not exit until its jobs have (at a hundred windows, teardown
        takes twice as long)."""
        args: list[str] = []
        for hook in _WAKE_HOOKS:
            args += ([";"] if args else []) + ["set-hook", "-gu", hook]
        result = self._run(args)
        if result.returncode != 0 and not _is_not_running(result.stderr):
            raise TmuxError("set-hook", result.stderr)

    def kill_server(self) -> None:
        result = self._run(["kill-server"])
        if result.returncode != 0 and not _is_not_running(result.stderr):
            raise TmuxError("kill-server", result.stderr)

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
