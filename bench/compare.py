"""Measure fleetctl against supervisord and PM2 on the same work, in one run.

    python bench/compare.py --quick     # N=20, 3 rounds, 10 s idle window: a few minutes
    python bench/compare.py             # N=20 and N=100, 5 rounds, 60 s idle window

For each N every agent is bench/agents/tcp_agent.py on its own 127.0.0.1 port. Scenarios:
bring-up (also with agents that bind after 1 s), status command, recovery after kill -9,
idle CPU of the supervising processes, stop-all of agents that ignore SIGTERM and keep a
grandchild (stop timeout 2 s everywhere), and fleetctl's task dispatch. Each round runs
fleetctl, supervisord and PM2 back to back on a fresh fleet (the order rotates per round);
figures are median (min-max) over rounds and ratios are the median of per-round ratios,
so machine drift cancels. Peers are installed under bench/.peers/ only (see peers.py).
Everything started is cleaned up, also on Ctrl-C, SIGTERM or an error. Writes
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import importlib.util
import json
import math
import os
import platform
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from peers import (
    BENCH_DIR,
    FLEETCTL_BIN,
    STOP_LIMIT_S,
    STOP_TIMEOUT_S,
    BenchError,
    FleetSpec,
    Manager,
    Pm2,
    Supervisord,
    Watched,
    cmdline,
    cpu_seconds,
    descendants,
    ensure_fleetctl,
    ensure_peers,
    first_line,
    is_alive,
    kill_pids,
    listener_pid,
    marked_pids,
    pm2_version,
    port_bindable,
    proc_stat,
    run_command,
    supervisor_version,
    wait_dead,
    wait_ports,
    wait_ports_free,
)

REPO_DIR = BENCH_DIR.parent
MANAGERS = ("fleetctl", "supervisord", "pm2")
PEERS = ("supervisord", "pm2")
STATUS_CALLS = 3
DISPATCH_CLAIMERS = 8


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Config:
    quick: bool
    sizes: tuple[int, ...]
    rounds: int
    idle_seconds: float
    settle_seconds: float
    port_base: int
    dispatch_tasks: int
    output: Path
    command: str


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str  # "s" (wall time), "cpu" (CPU seconds per 60 s), "count"
    ratio: bool = True


METRICS = (
    Metric("bringup", "bring-up: start until every port accepts", "s"),
    Metric("bringup_delay", "bring-up, agents bind after 1 s", "s"),
    Metric("status", "status command (`status --json` / `status` / `jlist`)", "s"),
    Metric("help", "`fleetctl --help` (fleetctl only)", "s", ratio=False),
    Metric("recovery", "recovery: kill -9 one agent until its port accepts", "s"),
    Metric("idle", "idle CPU of the supervising processes, CPU s per 60 s", "cpu"),
    Metric("idle_tmux", "  of which the fleet's tmux server", "cpu", ratio=False),
    Metric("stop", "stop-all: TERM-ignoring agents with a grandchild", "s"),
    Metric("leftover", "processes left behind after stop-all", "count", ratio=False),
)


def parse_args(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=20, 3 rounds, 10 s idle window")
    parser.add_argument("--sizes", help="comma-separated agent counts (default 20,100)")
    parser.add_argument("--rounds", type=int, help="rounds per scenario (default 5; quick 3)")
    parser.add_argument("--idle-seconds", type=float, help="idle window (default 60; quick 10)")
    parser.add_argument("--port-base", type=int, default=21000, help="first loopback port")
    parser.add_argument("--output", default=str(REPO_DIR / "docs" / "benchmarks.md"))
    args = parser.parse_args(argv)
    default_sizes = "20" if args.quick else "20,100"
    return Config(
        quick=args.quick,
        sizes=tuple(int(size) for size in (args.sizes or default_sizes).split(",")),
        rounds=args.rounds or (3 if args.quick else 5),
        idle_seconds=args.idle_seconds or (10.0 if args.quick else 60.0),
        settle_seconds=0.5 if args.quick else 2.0,
        port_base=args.port_base,
        dispatch_tasks=500 if args.quick else 2000,
        output=Path(args.output).resolve(),
        command=shlex.join(["python", *_relative_argv()]),
    )


def _relative_argv() -> list[str]:
    script = Path(sys.argv[0]).resolve()
    shown = str(script.relative_to(REPO_DIR)) if script.is_relative_to(REPO_DIR) else sys.argv[0]
    return [shown, *sys.argv[1:]]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- fleetctl


def tmux_socket_path(socket_name: str) -> Path:
    base = os.environ.get("TMUX_TMPDIR") or "/tmp"
    return Path(base) / f"tmux-{os.getuid()}" / socket_name


def find_fleetctl() -> tuple[list[str] | None, str]:
    """The fleetctl CLI as a command prefix, or None and the reason it is unusable."""
    candidates = []
    # The bench's own non-editable install first (see peers.ensure_fleetctl), then the
    # console script next to this interpreter: a pyenv shim on PATH is a bash wrapper that
    # would add ~70 ms to every fleetctl call.
    for script in (FLEETCTL_BIN, Path(sys.executable).parent / "fleetctl", shutil.which("fleetctl")):
        if script and os.access(script, os.X_OK):
            candidates.append([str(script)])
    candidates.append([sys.executable, "-m", "fleetctl"])
    reason = "fleetctl is not installed"
    for prefix in candidates:
        try:
            done = subprocess.run(
                [*prefix, "--help"], check=False, capture_output=True, text=True, timeout=60, cwd=REPO_DIR
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            reason = f"`{shlex.join(prefix)} --help` failed: {exc}"
            continue
        if done.returncode == 0 and "up" in done.stdout:
            return prefix, ""
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        reason = f"`{shlex.join(prefix)} --help` exited {done.returncode}: {tail[0]}"
    return None, reason


class Fleetctl(Manager):
    """fleetctl through its CLI only, with a generated fleet.toml in the run dir.

    Bring-up is `fleetctl up` (returns after verifying every spawn), then the ports are
    polled like for the peers. supervisor=true, so `up` also starts `fleetctl supervise` in
    the `_supervisor` window. stop_timeout=2s, min_uptime=0s, backoff=0s.
    Stop-all is `fleetctl down`.
    """

    label = "fleetctl"

    def __init__(self, spec: FleetSpec, root_marker: str, cli: list[str], name: str) -> None:
        super().__init__(spec, root_marker)
        self.cli = cli
        self.name = name
        self.socket = f"fleetctl-{name}"
        self.toml = spec.run_dir / "fleet.toml"
        self.toml.write_text(self._config())
        if cli[0] == sys.executable:  # `python -m fleetctl` from the work tree
            self.env["PYTHONPATH"] = str(REPO_DIR)

    def _config(self) -> str:
        argv = self.spec.agent_argv("PORT")
        command = " ".join("{port}" if arg == "PORT" else shlex.quote(arg) for arg in argv)
        stop = f"{STOP_TIMEOUT_S:g}s"
        return (
            "[fleet]\n"
            f"name = {json.dumps(self.name)}\n"
            'state_dir = "state"\n'
            "supervisor = true\n\n"
            "[defaults]\n"
            'start_timeout = "10s"\n'
            'min_uptime = "0s"\n'
            f"stop_timeout = {json.dumps(stop)}\n"
            'backoff = "0s"\n\n'
            "[agents.a]\n"
            f"command = {json.dumps(command)}\n"
            f"port = {self.spec.port_base}\n"
            f"replicas = {self.spec.n}\n"
        )

    def _cmd(self, *args: str) -> list[str]:
        return [*self.cli, "-c", str(self.toml), *args]

    def _tmux(self, *args: str) -> list[str]:
        return ["tmux", "-L", self.socket, *args]

    def start(self) -> None:
        run_command(self._cmd("up"), self.env, timeout=300)

    def status_argv(self) -> list[str]:
        return self._cmd("status", "--json")

    def help(self) -> None:
        """The root help: click and the command list, no fleet file read."""
        run_command([*self.cli, "--help"], self.env, timeout=60)

    def watched(self) -> list[Watched]:
        panes = run_command(
            self._tmux("list-panes", "-a", "-F", "#{window_name} #{pane_pid}"), self.env, 30
        ).stdout.split("\n")
        supervise = [int(line.split()[1]) for line in panes if line.startswith("_supervisor ")]
        if not supervise:
            raise BenchError("no `_supervisor` window in the fleet's tmux session")
        server = run_command(self._tmux("display-message", "-p", "#{pid}"), self.env, 30)
        return [
            Watched("fleetctl supervise", supervise[0], tree=True),
            Watched("tmux server", int(server.stdout.strip()), tree=False),
        ]

    def agent_pids(self) -> dict[str, int]:
        """Pids that `status --json` reports, by agent name."""
        rows = json.loads(run_command(self.status_argv(), self.env, timeout=60).stdout)
        return {str(row["name"]): int(row["pid"]) for row in rows if row.get("pid")}

    def stop_all(self) -> None:
        run_command(self._cmd("down"), self.env, timeout=STOP_LIMIT_S)

    def teardown(self) -> None:
        for argv in (self._cmd("down"), self._tmux("kill-server")):
            if not tmux_socket_path(self.socket).exists():
                break
            try:
                run_command(argv, self.env, timeout=60)
            except BenchError:
                continue
        tmux_socket_path(self.socket).unlink(missing_ok=True)


# --------------------------------------------------------------------------- cleanup


class Janitor:
    """Knows every fleet this run started and removes all of it, exactly once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.marker = f"{root}/"
        self.live: list[Manager] = []
        self.done = False

    @contextmanager
    def tracking(self, manager: Manager) -> Iterator[Manager]:
        self.live.append(manager)
        try:
            yield manager
        finally:
            manager.close()  # if this is interrupted, cleanup() closes it again
            self.live.remove(manager)

    def cleanup(self) -> None:
        if self.done:
            return
        self.done = True
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for manager in list(self.live):
                _quietly(manager.close)
            pids = marked_pids(self.marker, "BENCH_ROOT")
            kill_pids(pids)
            for pid in pids:
                wait_dead(pid, 2.0)
            shutil.rmtree(self.root, ignore_errors=True)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _quietly(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception as exc:  # cleanup must go on
        log(f"cleanup: {exc}")


def _raise_exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


# --------------------------------------------------------------------------- measurements


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def bring_up(manager: Manager) -> float:
    """From the start command until every port accepts a connection."""
    started = time.perf_counter()
    manager.start()
    if not wait_ports(manager.spec.ports, timeout=120):
        raise BenchError("not every port accepted a connection within 120 s")
    return time.perf_counter() - started


def median_of_calls(command: Callable[[], object]) -> float:
    """Median wall time of STATUS_CALLS runs of a short command."""
    return statistics.median(timed(command) for _ in range(STATUS_CALLS))


def cpu_by_pid(watched: Watched) -> dict[int, float]:
    pids = [watched.pid, *(descendants(watched.pid) if watched.tree else [])]
    cpu = {}
    for pid in pids:
        seconds = cpu_seconds(pid)
        if seconds is not None:
            cpu[pid] = seconds
    if watched.pid not in cpu or not is_alive(watched.pid):
        raise BenchError(f"{watched.label} (pid {watched.pid}) is gone")
    return cpu


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used in between; a child that exited was folded into its parent's cutime."""
    grown = sum(value - before.get(pid, 0.0) for pid, value in after.items())
    vanished = sum(value for pid, value in before.items() if pid not in after)
    return max(grown - vanished, 0.0)


def measure_idle(manager: Manager, window: float) -> dict[str, float]:
    """CPU seconds per 60 s of each supervising process while N agents are healthy."""
    watched = manager.watched()
    before = {item.label: cpu_by_pid(item) for item in watched}
    time.sleep(window)
    after = {item.label: cpu_by_pid(item) for item in watched}
    scale = 60.0 / window
    return {label: scale * cpu_delta(before[label], after[label]) for label in before}


def victim(manager: Manager) -> tuple[int, int]:
    """(port, pid listening on it) of the agent in the middle of the fleet."""
    port = manager.spec.ports[manager.spec.n // 2]
    pid = listener_pid(port, marked_pids(manager.spec.marker))
    if pid is None:
        raise BenchError(f"no process of this run listens on port {port}")
    return port, pid


def measure_recovery(manager: Manager) -> float:
    """kill -9 the process serving one agent's port; time until the port accepts again."""
    port, pid = victim(manager)
    started = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    if not wait_dead(pid, 5.0):
        raise BenchError(f"pid {pid} survived SIGKILL for 5 s")
    if not wait_ports([port], timeout=60, interval=0.002):
        raise BenchError(f"port {port} did not accept again within 60 s")
    return time.perf_counter() - started


def reported_pid_note(manager: Fleetctl) -> str:
    """Does `status --json` name the process that really serves the port?"""
    port, pid = victim(manager)
    name = f"a-{manager.spec.n // 2 + 1}"
    reported = manager.agent_pids().get(name)
    if reported in (pid, *_ancestors(pid)):
        return ""
    return f"status --json says {name} is pid {reported}, but port {port} is served by pid {pid}"


def _ancestors(pid: int) -> list[int]:
    found = []
    stat = proc_stat(pid)
    while stat is not None and stat.ppid > 1:
        found.append(stat.ppid)
        stat = proc_stat(stat.ppid)
    return found


def wait_grandchildren(spec: FleetSpec, timeout: float = 10.0) -> None:
    deadline = time.perf_counter() + timeout
    while len(_kinds(marked_pids(spec.marker)).get("grandchild", [])) < spec.n:
        if time.perf_counter() > deadline:
            raise BenchError("not every agent's grandchild appeared")
        time.sleep(0.02)


def _kinds(pids: list[int]) -> dict[str, list[int]]:
    kinds: dict[str, list[int]] = {}
    for pid in pids:
        argv = cmdline(pid)
        if b"\0grandchild\0" in argv:
            kind = "grandchild"
        elif b"tcp_agent.py" in argv:
            kind = "agent"
        else:
            raw = Path(f"/proc/{pid}/comm")
            kind = raw.read_text().strip() if raw.exists() else "?"
        kinds.setdefault(kind, []).append(pid)
    return kinds


def describe(pids: list[int]) -> str:
    return ", ".join(f"{len(found)} {kind}" for kind, found in sorted(_kinds(pids).items()))


# --------------------------------------------------------------------------- scenarios

Values = dict[str, float | None]


@dataclass
class Results:
    values: dict[tuple[str, int], dict[str, list[float | None]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    dispatch: dict[str, list[float]] | str = "not run"

    def add(self, n: int, manager: str, values: Values) -> None:
        for key, value in values.items():
            self.values.setdefault((key, n), {}).setdefault(manager, []).append(value)


class Context:
    """Where a run is (for notes) and how failures are recorded."""

    def __init__(self, where: str, results: Results, config: Config) -> None:
        self.where = where
        self.results = results
        self.config = config

    def note(self, text: str) -> None:
        self.results.notes.append(f"{self.where}: {text}")
        log(f"  note: {text}")

    def attempt(self, what: str, action: Callable[[], float]) -> float | None:
        try:
            return action()
        except BenchError as exc:
            self.note(f"{what} failed: {exc}")
            return None


def steady(manager: Manager, ctx: Context) -> Values:
    """Bring-up, status, idle cost and recovery on one fleet of plain agents."""
    out: Values = dict.fromkeys(("bringup", "status", "help", "idle", "idle_tmux", "recovery"))
    out["bringup"] = ctx.attempt("bring-up", lambda: bring_up(manager))
    if out["bringup"] is None:
        return out
    time.sleep(ctx.config.settle_seconds)
    out["status"] = ctx.attempt("status", lambda: median_of_calls(manager.status))
    if isinstance(manager, Fleetctl):
        out["help"] = ctx.attempt("help", lambda: median_of_calls(manager.help))
    time.sleep(ctx.config.settle_seconds)
    try:
        idle = measure_idle(manager, ctx.config.idle_seconds)
        out["idle"] = sum(idle.values())
        out["idle_tmux"] = idle.get("tmux server")
    except BenchError as exc:
        ctx.note(f"idle failed: {exc}")
    if isinstance(manager, Fleetctl):
        try:
            note = reported_pid_note(manager)
        except (BenchError, ValueError, KeyError) as exc:
            note = f"could not read pids from status --json: {exc}"
        if note:
            ctx.note(note)
    out["recovery"] = ctx.attempt("recovery", lambda: measure_recovery(manager))
    return out


def delayed(manager: Manager, ctx: Context) -> Values:
    return {"bringup_delay": ctx.attempt("bring-up", lambda: bring_up(manager))}


def stop_all(manager: Manager, ctx: Context) -> Values:
    """Agents ignore SIGTERM and keep a grandchild: stop wall time and what survives it."""
    out: Values = {"stop": None, "leftover": None}
    if ctx.attempt("bring-up", lambda: bring_up(manager)) is None:
        return out
    ctx.attempt("grandchildren", lambda: timed(lambda: wait_grandchildren(manager.spec)))
    time.sleep(0.5)
    started = time.perf_counter()
    try:
        manager.stop_all()
    except BenchError as exc:
        ctx.note(f"stop-all: {exc}")
    out["stop"] = time.perf_counter() - started
    left = marked_pids(manager.spec.marker, "BENCH_RUN")
    out["leftover"] = float(len(left))
    if left:
        ctx.note(f"left behind after stop-all: {describe(left)}")
    return out


@dataclass(frozen=True)
class Group:
    name: str
    body: Callable[[Manager, Context], Values]
    delay: float = 0.0
    stubborn: bool = False  # --ignore-term --grandchild


GROUPS = (
    Group("steady", steady),
    Group("delayed", delayed, delay=1.0),
    Group("stop", stop_all, stubborn=True),
)


class Session:
    """One benchmark invocation: config, temp root, cleanup, results."""

    def __init__(self, config: Config, janitor: Janitor, cli: list[str] | None) -> None:
        self.config = config
        self.janitor = janitor
        self.cli = cli
        self.token = secrets.token_hex(3)
        self.counter = 0
        self.results = Results()
        self.managers = MANAGERS if cli else PEERS

    def spec(self, group: Group, n: int, manager: str) -> FleetSpec:
        self.counter += 1
        run_dir = self.janitor.root / f"{self.counter:03d}-{group.name}-{manager}-n{n}"
        return FleetSpec(
            n=n,
            port_base=self.config.port_base,
            run_dir=run_dir,
            delay=group.delay,
            ignore_term=group.stubborn,
            grandchild=group.stubborn,
        )

    def make(self, kind: str, spec: FleetSpec) -> Manager:
        marker = self.janitor.marker
        if kind == "fleetctl":
            assert self.cli is not None
            return Fleetctl(spec, marker, self.cli, f"bench{self.token}-{self.counter:03d}")
        return Supervisord(spec, marker) if kind == "supervisord" else Pm2(spec, marker)

    def run_one(self, group: Group, n: int, kind: str, where: str) -> Values:
        spec = self.spec(group, n, kind)
        ctx = Context(f"{where} {group.name} {kind}", self.results, self.config)
        if not wait_ports_free(spec.ports, timeout=30):
            ctx.note("ports still in use from an earlier run; skipped")
            return {}
        with self.janitor.tracking(self.make(kind, spec)) as manager:
            values = group.body(manager, ctx)
        return values

    def run(self) -> Results:
        for n in self.config.sizes:
            for round_index in range(self.config.rounds):
                self.run_round(n, round_index)
        return self.results

    def run_round(self, n: int, round_index: int) -> None:
        shift = round_index % len(self.managers)
        order = self.managers[shift:] + self.managers[:shift]
        where = f"N={n} round {round_index + 1}/{self.config.rounds}"
        for group in GROUPS:
            for kind in order:
                started = time.perf_counter()
                values = self.run_one(group, n, kind, where)
                self.results.add(n, kind, _complete(group, values))
                took = time.perf_counter() - started
                log(f"{where} {group.name:7} {kind:11} {_brief(values)}  ({took:.0f} s)")


def _complete(group: Group, values: Values) -> Values:
    keys = {
        "steady": ("bringup", "status", "help", "idle", "idle_tmux", "recovery"),
        "delayed": ("bringup_delay",),
        "stop": ("stop", "leftover"),
    }[group.name]
    return {key: values.get(key) for key in keys}


def _brief(values: Values) -> str:
    return "  ".join(f"{key}={'-' if v is None else f'{v:.3f}'}" for key, v in values.items())


# --------------------------------------------------------------------------- dispatch


def run_dispatch(config: Config, results: Results) -> None:
    path = BENCH_DIR / "dispatch_bench.py"
    measure = _load_measure(path)
    if measure is None:
        results.dispatch = "n/a (dispatch_bench missing)"
        return
    collected: dict[str, list[float]] = {}
    for round_index in range(config.rounds):
        try:
            outcome = measure(config.dispatch_tasks, DISPATCH_CLAIMERS)
        except Exception as exc:  # someone else's code: report it, go on
            results.notes.append(f"dispatch round {round_index + 1}: {exc!r}")
            continue
        for key, value in outcome.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                collected.setdefault(key, []).append(float(value))
        log(f"dispatch round {round_index + 1}: {outcome}")
    results.dispatch = collected or "n/a (every dispatch round failed)"


def _load_measure(path: Path) -> Callable[[int, int], dict[str, object]] | None:
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("dispatch_bench", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "measure_claims", None)


# --------------------------------------------------------------------------- report


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "cpu":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:g}"


def cell(values: list[float | None] | None, unit: str, rounds: int) -> str:
    present = [value for value in values or [] if value is not None]
    if not present:
        return "—"
    text = fmt(statistics.median(present), unit)
    if len(present) > 1:
        text += f" ({fmt(min(present), unit)}–{fmt(max(present), unit)})"
    if len(present) < rounds:
        text += f" [{len(present)}/{rounds} runs]"
    return text


def pair_ratio(peer: list[float | None] | None, fleet: list[float | None] | None) -> str:
    """Median over rounds of peer ÷ fleetctl (rounds where either is missing are skipped)."""
    pairs = [_ratio(p, f) for p, f in zip(peer or [], fleet or [], strict=False) if p is not None and f is not None]
    if not pairs:
        return "—"
    middle = statistics.median(pairs)
    return "∞×" if middle == math.inf else f"{middle:.2f}×"


def _ratio(peer: float, fleet: float) -> float:
    if fleet > 0:
        return peer / fleet
    return 1.0 if peer == 0 else math.inf  # 0 CPU ticks on both sides: equal


def table(config: Config, results: Results, fleet_available: bool) -> str:
    header = ["measure", "N", "fleetctl", "supervisord", "pm2", "supervisord ÷ fleetctl", "pm2 ÷ fleetctl"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for n in config.sizes:
        for metric in METRICS:
            row = results.values.get((metric.key, n), {})
            cells = [cell(row.get(kind), metric.unit, config.rounds) for kind in MANAGERS]
            if not fleet_available:
                cells[0] = "n/a"
            ratios = ["—", "—"]
            if metric.ratio:
                ratios = [pair_ratio(row.get(peer), row.get("fleetctl")) for peer in PEERS]
            lines.append(f"| {metric.label} | {n} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


def dispatch_text(config: Config, results: Results) -> str:
    if isinstance(results.dispatch, str):
        return f"dispatch (fleetctl only): {results.dispatch}"
    head = (
        f"dispatch (fleetctl only; {DISPATCH_CLAIMERS} concurrent claimers, "
        f"{config.dispatch_tasks} tasks, {config.rounds} runs):"
    )
    rows = [f"- {key}: {cell(list(values), 'count', config.rounds)}" for key, values in results.dispatch.items()]
    return "\n".join([head, *rows])


def machine(cli: list[str] | None) -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    return {
        "cores": f"{os.cpu_count()} ({cpu})",
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "tmux": _version(first_line(["tmux", "-V"])),
        "fleetctl": _version(first_line([*cli, "--version"])) if cli else "not available",
        "supervisor": _version(supervisor_version()),
        "PM2": f"{pm2_version()} (node {first_line(['node', '--version'])})",
    }


def _version(line: str) -> str:
    """`tmux 3.3a` -> `3.3a`; `fleetctl, version 0.1.0` -> `0.1.0`."""
    return line.split()[-1] if line.split() else line


METHOD = f"""\
How it is measured (bench/compare.py; peers in bench/.peers/, never project dependencies):

- Same work for all: N agents `python -S bench/agents/tcp_agent.py PORT`, each a stdlib TCP
  server on 127.0.0.1, consecutive ports (-S: no site module, whose .pth hooks in the base
  interpreter would add their own start-up cost to every agent under every manager); one
  fresh fleet (own temp dir, own tmux socket / PM2_HOME / supervisord config) per run.
  Each round runs fleetctl, supervisord and PM2 back to back (order rotated per round).
  Cells: median (min–max) over rounds. Ratios: median over rounds of peer ÷ fleetctl from
  the same round; above 1× means fleetctl is faster/cheaper.
- bring-up: from launching the start command (cold: daemon included) until every port
  accepts a connection. fleetctl `up` verifies before it returns; ports are polled for all.
- status: median of {STATUS_CALLS} calls per round of `fleetctl status --json`,
  `supervisorctl status`, `pm2 jlist`, with N agents running. `fleetctl --help`: median of
  {STATUS_CALLS} calls per round, right after the status calls (the CLI's start alone).
- recovery: SIGKILL to the process listening on the middle agent's port; time until that
  port accepts again.
- idle: CPU time of the supervising processes over the idle window, scaled to 60 s:
  `fleetctl supervise` (with its children) plus the fleet's tmux server (also shown on its
  own); supervisord; the PM2 God daemon. Own time from every thread's /proc schedstat (ns),
  plus reaped children's utime+stime (10 ms ticks). A ratio against 0 is shown as ∞.
- stop-all: agents run with `--ignore-term --grandchild` (ignore SIGTERM/SIGINT/SIGHUP and
  keep a grandchild in its own session that ignores them too). Stop timeout
  {STOP_TIMEOUT_S:g} s everywhere. Commands: `fleetctl down`; `supervisorctl shutdown` timed
  until supervisord exits; `pm2 kill`. Left behind: live processes carrying the run's
  marker (command line or environment) right after the command returned.
- The bench process is a child subreaper that reaps orphans at once, as a normal init does
  (pid 1 on this machine reaps only every second or two; a dead orphan left as a zombie
  meanwhile slows every manager that polls kill(pid, 0)).
- supervisord config: one `[program]` with numprocs=N (one group, stopped in parallel),
  autorestart=true, startsecs=0, stopsignal=TERM, stopwaitsecs={STOP_TIMEOUT_S:g},
  stopasgroup=true, killasgroup=true, nodaemon=true, unix socket in the run dir.
- PM2 config: fork mode, autorestart, restart_delay=0, kill_timeout={STOP_TIMEOUT_S * 1000:.0f},
  treekill (default), PM2_KILL_SIGNAL=SIGTERM (default would be SIGINT), PM2_HOME in the
  run dir.
- fleetctl config: supervisor=true, min_uptime=0s, backoff=0s, stop_timeout={STOP_TIMEOUT_S:g}s,
  start_timeout=10s, one `[agents.a]` with replicas=N.
"""


def markdown(config: Config, results: Results, info: dict[str, str], skipped: str) -> str:
    mode = _mode_text(config)
    parts = [
        "# fleetctl vs supervisord vs PM2",
        (f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC} by `{config.command}` ({mode})."),
        "Machine: " + "; ".join(f"{key} {value}" for key, value in info.items()) + ".",
    ]
    if skipped:
        parts.append(f"**fleetctl half skipped:** {skipped}.")
    parts += [table(config, results, not skipped), dispatch_text(config, results), METHOD]
    if results.notes:
        parts.append("Notes from this run:\n\n" + "\n".join(f"- {n}" for n in results.notes))
    return "\n\n".join(parts) + "\n"


def _mode_text(config: Config) -> str:
    kind = "quick mode" if config.quick else "full mode"
    idle = f"idle window {config.idle_seconds:g} s"
    if config.idle_seconds != 60:
        idle += " scaled to 60 s"
    sizes = ",".join(map(str, config.sizes))
    return f"{kind}: N={sizes}, {config.rounds} rounds, {idle}"


# --------------------------------------------------------------------------- main


def pick_port_base(start: int, count: int) -> int:
    for base in range(start, start + 10_000, 1000):
        if all(port_bindable(port) for port in range(base, base + count)):
            return base
    raise SystemExit(f"no free block of {count} loopback ports from {start}")


def install_handlers(janitor: Janitor) -> None:
    atexit.register(janitor.cleanup)
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGHUP, _raise_exit)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    started = time.perf_counter()
    ensure_peers(log)
    ensure_fleetctl(REPO_DIR, log)
    cli, skipped = find_fleetctl()
    if skipped:
        log(f"fleetctl half skipped: {skipped}")
    base = pick_port_base(config.port_base, max(config.sizes))
    config = dataclass_replace(config, port_base=base)
    janitor = Janitor(Path(tempfile.mkdtemp(prefix="fleetbench-")))
    install_handlers(janitor)
    if config.quick:
        log(f"QUICK MODE: {_mode_text(config)}")
    try:
        session = Session(config, janitor, cli)
        results = session.run()
        if cli:
            run_dispatch(config, results)
        else:
            results.dispatch = "n/a (fleetctl not available)"
    except KeyboardInterrupt:
        janitor.cleanup()
        log("interrupted: every process and tmux server this run started has been stopped")
        return 130
    finally:
        janitor.cleanup()
    info = machine(cli)
    text = markdown(config, results, info, skipped)
    config.output.parent.mkdir(parents=True, exist_ok=True)
    config.output.write_text(text)
    print(text)
    log(f"wrote {config.output} in {time.perf_counter() - started:.0f} s")
    return 0


def dataclass_replace(config: Config, **changes: object) -> Config:
    import dataclasses

    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- reaper

PR_SET_CHILD_SUBREAPER = 36
REAPED_ENV = "FLEETBENCH_REAPED"


def reaped(entry: Callable[[], int]) -> int:
    """Run entry in a child process whose orphans this process reaps at once.

    pid 1 on this machine reaps orphans only every second or two, so a killed daemonized
    process or grandchild stays a zombie meanwhile, and every manager that polls
    kill(pid, 0) (PM2, psutil) waits for it. A child subreaper gives all three managers
    the prompt reaping of a normal init.
    """
    if os.environ.get(REAPED_ENV) == "1" or not _become_subreaper():
        return entry()
    env = {**os.environ, REAPED_ENV: "1"}
    child = os.posix_spawn(sys.executable, [sys.executable, *sys.argv], env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal sends it to the child too
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda sig, _frame: os.kill(child, sig))
    while True:
        pid, status = os.wait()
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            break
    _drain_zombies()
    return code if code >= 0 else 128 - code


def _become_subreaper() -> bool:
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _drain_zombies() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


if __name__ == "__main__":
    sys.exit(reaped(main))
