"""Peers for bench/compare.py (supervisord, PM2) and the process plumbing they share.

The peers live only in a bench-only environment under bench/.peers/ (ignored by git):
supervisor from PyPI in bench/.peers/venv, pm2 from the npm registry in
bench/.peers/node_modules. They are never runtime or test dependencies of fleetctl.

Every process a benchmark run starts is findable: each agent gets the run's marker (its temp
dir path, ending in "/") on its command line, and every command is launched with
BENCH_ROOT/BENCH_RUN in its environment, which daemons (tmux server, PM2 God, supervisord)
and agents inherit. Cleanup kills exactly the pids that carry the marker, never by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
AGENT_SCRIPT = BENCH_DIR / "agents" / "tcp_agent.py"
PEERS_DIR = BENCH_DIR / ".peers"
VENV_DIR = PEERS_DIR / "venv"
SUPERVISORD = VENV_DIR / "bin" / "supervisord"
SUPERVISORCTL = VENV_DIR / "bin" / "supervisorctl"
PM2 = PEERS_DIR / "node_modules" / ".bin" / "pm2"
PYTHON = sys.executable
# Agents start Python with -S (no site module): they use the stdlib only, and site-packages
# .pth files of the base interpreter run at every start (one on this machine imports certifi,
# some 40 ms of CPU per agent), which would make bring-up measure this workplace.
AGENT_PYTHON_FLAGS = ("-S",)
CLK_TCK = os.sysconf("SC_CLK_TCK")
STOP_TIMEOUT_S = 2.0
STOP_LIMIT_S = 900.0  # how long any stop-all command may take before it counts as hung


class BenchError(RuntimeError):
    """A measurement could not be taken; the message says why."""


# --------------------------------------------------------------------------- install


def ensure_peers(log: Callable[[str], None] = print) -> None:
    """Install supervisor (PyPI, own venv) and pm2 (npm) under bench/.peers/ if missing."""
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    if not SUPERVISORD.exists():
        log("installing supervisor into bench/.peers/venv (PyPI) ...")
        if not (VENV_DIR / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV_DIR)], check=True)
        pip = [str(VENV_DIR / "bin" / "python"), "-m", "pip", "install", "-q", "supervisor"]
        subprocess.run(pip, check=True)
    if not PM2.exists():
        log("installing pm2 into bench/.peers (npm registry) ...")
        npm = ["npm", "install", "--prefix", str(PEERS_DIR), "--no-audit", "--no-fund", "pm2"]
        subprocess.run(npm, check=True, stdout=subprocess.DEVNULL)


FLEETCTL_VENV = PEERS_DIR / "fleetctl-venv"
FLEETCTL_BIN = FLEETCTL_VENV / "bin" / "fleetctl"


def ensure_fleetctl(repo: Path, log: Callable[[str], None] = print) -> Path:
    """Install this work tree's fleetctl into its own venv, as a user's `pip install` would.

    Like supervisor in its venv: no editable-install import hook and none of the base
    interpreter's site-packages .pth files, which would tax every fleetctl call but not the
    peers'. Reinstalled (without dependencies) on every run so the bench measures the tree.
    """
    python = FLEETCTL_VENV / "bin" / "python"
    if not python.exists():
        log("installing fleetctl into bench/.peers/fleetctl-venv ...")
        subprocess.run([sys.executable, "-m", "venv", str(FLEETCTL_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", str(repo)], check=True)
    else:
        pip = [str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(repo)]
        subprocess.run(pip, check=True, stdout=subprocess.DEVNULL)
    return FLEETCTL_BIN


def first_line(argv: Sequence[str]) -> str:
    """First line a version command prints, or "unknown"."""
    try:
        done = subprocess.run(list(argv), check=False, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def supervisor_version() -> str:
    return first_line([str(SUPERVISORD), "--version"])


def pm2_version() -> str:
    # `pm2 --version` would start a daemon in ~/.pm2; read the package metadata instead.
    meta = PEERS_DIR / "node_modules" / "pm2" / "package.json"
    return str(json.loads(meta.read_text())["version"])


# --------------------------------------------------------------------------- /proc


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


@dataclass(frozen=True)
class ProcStat:
    state: str
    ppid: int
    own_cpu: float  # utime + stime, seconds (10 ms ticks)
    children_cpu: float  # cutime + cstime: children it has reaped


def proc_stat(pid: int) -> ProcStat | None:
    """What /proc/PID/stat says, or None if the pid is gone."""
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    fields = raw[raw.rindex(b")") + 2 :].split()
    # fields[0] is field 3 (state); utime, stime, cutime, cstime are fields 14..17
    own, children = (int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14]))
    return ProcStat(fields[0].decode(), int(fields[1]), own / CLK_TCK, children / CLK_TCK)


def cpu_seconds(pid: int) -> float | None:
    """CPU time of a process and the children it reaped; None if it is gone.

    Its own time comes from the threads' schedstat (nanoseconds) where the kernel has it,
    so that a 10 s window of a nearly idle daemon does not round to 0 ticks.
    """
    stat = proc_stat(pid)
    if stat is None:
        return None
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        nanos = sum(int((_read(f"/proc/{pid}/task/{tid}/schedstat") or b"0").split()[0]) for tid in tasks)
    except (OSError, ValueError, IndexError):
        return stat.own_cpu + stat.children_cpu
    return nanos / 1e9 + stat.children_cpu


def is_alive(pid: int) -> bool:
    """True if the pid exists and is not a zombie (pid 1 here does not reap orphans)."""
    stat = proc_stat(pid)
    return stat is not None and stat.state not in ("Z", "X")


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def cmdline(pid: int) -> bytes:
    return _read(f"/proc/{pid}/cmdline") or b""


def marked_pids(marker: str, env_key: str | None = None) -> list[int]:
    """Live pids whose command line contains marker (or whose env has env_key=marker)."""
    needle = marker.encode()
    env_needle = f"{env_key}={marker}".encode() if env_key else None
    found = []
    for pid in all_pids():
        if pid == os.getpid():
            continue
        hit = needle in cmdline(pid)
        if not hit and env_needle is not None:
            hit = env_needle in (_read(f"/proc/{pid}/environ") or b"")
        if hit and is_alive(pid):
            found.append(pid)
    return found


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid in all_pids():
        stat = proc_stat(pid)
        if stat is not None:
            children.setdefault(stat.ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_pids(pids: Iterable[int]) -> None:
    """SIGKILL exactly these pids (each was found by this run's marker)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while is_alive(pid):
        if time.perf_counter() > deadline:
            return False
        time.sleep(0.001)
    return True


def listener_pid(port: int, candidates: Iterable[int]) -> int | None:
    """The pid (among candidates) holding the LISTEN socket on 127.0.0.1:port."""
    inode = _listen_inode(port)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in candidates:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    return None


def _listen_inode(port: int) -> str | None:
    local = f"0100007F:{port:04X}"
    for line in (_read("/proc/net/tcp") or b"").decode().splitlines()[1:]:
        parts = line.split()
        if parts[1] == local and parts[3] == "0A":
            return parts[9]
    return None


# --------------------------------------------------------------------------- ports


def port_accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def port_bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_ports(ports: Iterable[int], timeout: float, interval: float = 0.005) -> bool:
    """Poll until every port accepts a connection; False on timeout."""
    pending = set(ports)
    deadline = time.perf_counter() + timeout
    while pending:
        pending = {port for port in pending if not port_accepts(port)}
        if not pending:
            break
        if time.perf_counter() > deadline:
            return False
        time.sleep(interval)
    return True


def wait_ports_free(ports: Iterable[int], timeout: float) -> bool:
    pending = set(ports)
    deadline = time.perf_counter() + timeout
    while pending:
        pending = {port for port in pending if port_accepts(port) or not port_bindable(port)}
        if not pending:
            break
        if time.perf_counter() > deadline:
            return False
        time.sleep(0.05)
    return True


# --------------------------------------------------------------------------- fleets


@dataclass(frozen=True)
class FleetSpec:
    """The same work for every manager: n agents on consecutive loopback ports."""

    n: int
    port_base: int
    run_dir: Path
    delay: float = 0.0
    ignore_term: bool = False
    grandchild: bool = False

    @property
    def ports(self) -> list[int]:
        return list(range(self.port_base, self.port_base + self.n))

    @property
    def marker(self) -> str:
        return f"{self.run_dir}/"

    def agent_flags(self) -> list[str]:
        flags = []
        if self.delay > 0:
            flags += ["--delay", f"{self.delay:g}"]
        if self.ignore_term:
            flags.append("--ignore-term")
        if self.grandchild:
            flags.append("--grandchild")
        return [*flags, "--tag", self.marker]

    def agent_argv(self, port: int | str) -> list[str]:
        return [PYTHON, *AGENT_PYTHON_FLAGS, str(AGENT_SCRIPT), str(port), *self.agent_flags()]


@dataclass(frozen=True)
class Watched:
    """A supervising process whose CPU time counts as the manager's idle cost."""

    label: str
    pid: int
    tree: bool  # include live descendants (never the agents)


# Dropped from every manager's (and so every agent's) environment: with it, each Python
# start recompiles site-packages modules that have no cached bytecode, which would make
# the numbers measure this workplace rather than the managers. Users rarely set it.
UNFAIR_ENV = ("PYTHONDONTWRITEBYTECODE",)


def run_env(spec: FleetSpec, root_marker: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNFAIR_ENV}
    env.update({"BENCH_ROOT": root_marker, "BENCH_RUN": spec.marker})
    env.update(extra or {})
    return env


def run_command(
    argv: Sequence[str], env: dict[str, str], timeout: float, ok: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess[str]:
    """Run one CLI call; BenchError (with its output tail) if it fails or hangs."""
    try:
        done = subprocess.run(
            list(argv),
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"`{_short(argv)}` did not return within {timeout:g}s") from exc
    if done.returncode not in ok:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BenchError(f"`{_short(argv)}` exited {done.returncode}: {' | '.join(tail)}")
    return done


def _short(argv: Sequence[str]) -> str:
    return " ".join(Path(arg).name if arg.startswith("/") else arg for arg in argv)


class Manager(ABC):
    """One fleet manager driving one fleet in its own run dir."""

    label = "manager"

    def __init__(self, spec: FleetSpec, root_marker: str) -> None:
        self.spec = spec
        self.root_marker = root_marker
        self.env = run_env(spec, root_marker)
        spec.run_dir.mkdir(parents=True, exist_ok=True)

    @abstractmethod
    def start(self) -> None:
        """Run the bring-up command; returns when that command returns."""

    @abstractmethod
    def status_argv(self) -> list[str]:
        """The status command people and scripts use."""

    @abstractmethod
    def watched(self) -> list[Watched]:
        """The supervising processes (for the idle cost)."""

    @abstractmethod
    def stop_all(self) -> None:
        """Stop every agent and the manager itself; return when the manager says it is done."""

    @abstractmethod
    def teardown(self) -> None:
        """Forceful, idempotent cleanup of the manager's own daemons; never raises."""

    def status(self) -> None:
        run_command(self.status_argv(), self.env, timeout=60)

    def sweep(self) -> list[int]:
        """Kill every live process of this run (by marker); returns the pids killed."""
        pids = marked_pids(self.spec.marker, "BENCH_RUN")
        kill_pids(pids)
        for pid in pids:
            wait_dead(pid, 2.0)
        return pids

    def close(self) -> None:
        self.teardown()
        self.sweep()


# --------------------------------------------------------------------------- supervisord

SUPERVISORD_CONF = """\
[unix_http_server]
file={d}/supervisor.sock

[supervisord]
logfile={d}/supervisord.log
pidfile={d}/supervisord.pid
childlogdir={d}
nodaemon=true
loglevel=warn

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{d}/supervisor.sock

[program:a]
command={command}
process_name=a-%(process_num)d
numprocs={n}
numprocs_start={base}
autostart=true
autorestart=true
startsecs=0
startretries=3
stopsignal=TERM
stopwaitsecs={stop:g}
stopasgroup=true
killasgroup=true
stdout_logfile=NONE
stderr_logfile=NONE
"""


class Supervisord(Manager):
    """supervisord 4 with one [program] of numprocs=N (one group, so it stops in parallel).

    startsecs=0 (like fleetctl's min_uptime=0s), autorestart=true, stopwaitsecs=2,
    stopasgroup/killasgroup=true (TERM, then KILL, to the agent's process group);
    nodaemon=true so the bench owns supervisord's pid. Stop-all is `supervisorctl shutdown`
    (stops every program, then supervisord) timed until supervisord has exited.
    """

    label = "supervisord"

    def __init__(self, spec: FleetSpec, root_marker: str) -> None:
        super().__init__(spec, root_marker)
        self.conf = spec.run_dir / "supervisord.conf"
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf.write_text(self._config())

    def _config(self) -> str:
        command = " ".join(self.spec.agent_argv("%(process_num)d"))
        return SUPERVISORD_CONF.format(
            d=self.spec.run_dir,
            command=command,
            n=self.spec.n,
            base=self.spec.port_base,
            stop=STOP_TIMEOUT_S,
        )

    def _ctl(self, *args: str) -> list[str]:
        return [str(SUPERVISORCTL), "-c", str(self.conf), *args]

    def start(self) -> None:
        log = open(self.spec.run_dir / "supervisord.out", "wb")  # noqa: SIM115
        with log:
            self.proc = subprocess.Popen(
                [str(SUPERVISORD), "-c", str(self.conf)],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def status_argv(self) -> list[str]:
        return self._ctl("status")

    def status(self) -> None:
        # supervisorctl exits 3 when some process is not RUNNING; the timing is what counts.
        run_command(self.status_argv(), self.env, timeout=60, ok=(0, 3))

    def watched(self) -> list[Watched]:
        assert self.proc is not None
        return [Watched("supervisord", self.proc.pid, tree=False)]

    def stop_all(self) -> None:
        assert self.proc is not None
        run_command(self._ctl("shutdown"), self.env, timeout=60)
        try:
            self.proc.wait(timeout=STOP_LIMIT_S)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"supervisord did not exit within {STOP_LIMIT_S:g} s of shutdown") from exc

    def teardown(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


# --------------------------------------------------------------------------- pm2


class Pm2(Manager):
    """PM2 in fork mode, PM2_HOME in the run dir (never ~/.pm2).

    autorestart=true, restart_delay=0, kill_timeout=2000 ms, treekill (PM2's default), and
    PM2_KILL_SIGNAL=SIGTERM so it sends the same stop signal as the others (its default is
    SIGINT). Bring-up is `pm2 start ecosystem.json` (cold: it also starts the God daemon);
    stop-all is `pm2 kill` (stops every app, then the daemon).
    """

    label = "pm2"

    def __init__(self, spec: FleetSpec, root_marker: str) -> None:
        super().__init__(spec, root_marker)
        self.home = spec.run_dir / "pm2"
        self.env.update({"PM2_HOME": str(self.home), "PM2_KILL_SIGNAL": "SIGTERM"})
        self.ecosystem = spec.run_dir / "ecosystem.json"
        self.ecosystem.write_text(json.dumps({"apps": self._apps()}, indent=1))

    def _apps(self) -> list[dict[str, object]]:
        return [
            {
                "name": f"a-{index + 1}",
                "script": str(AGENT_SCRIPT),
                "interpreter": PYTHON,
                "interpreter_args": list(AGENT_PYTHON_FLAGS),
                "args": [str(port), *self.spec.agent_flags()],
                "exec_mode": "fork",
                "autorestart": True,
                "restart_delay": 0,
                "max_restarts": 1000,
                "kill_timeout": int(STOP_TIMEOUT_S * 1000),
                "out_file": "/dev/null",
                "error_file": "/dev/null",
            }
            for index, port in enumerate(self.spec.ports)
        ]

    def _pm2(self, *args: str) -> list[str]:
        return [str(PM2), *args]

    def start(self) -> None:
        run_command(self._pm2("start", str(self.ecosystem)), self.env, timeout=120)

    def status_argv(self) -> list[str]:
        return self._pm2("jlist")

    def god_pid(self) -> int | None:
        raw = _read(str(self.home / "pm2.pid"))
        return int(raw) if raw and raw.strip().isdigit() else None

    def watched(self) -> list[Watched]:
        pid = self.god_pid()
        if pid is None:
            raise BenchError("PM2 daemon pid file missing")
        return [Watched("pm2 God", pid, tree=False)]

    def stop_all(self) -> None:
        pid = self.god_pid()
        run_command(self._pm2("kill"), self.env, timeout=STOP_LIMIT_S)
        if pid is not None and not wait_dead(pid, 10):
            raise BenchError("PM2 daemon still alive after `pm2 kill`")

    def teardown(self) -> None:
        pid = self.god_pid()
        if pid is None or not is_alive(pid):
            return
        try:
            run_command(self._pm2("kill"), self.env, timeout=60)
        except BenchError:
            kill_pids([pid])
