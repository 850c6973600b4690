"""The supervise loop: a pass, then a wait until the next deadline or a wake-up.

A wait that runs out with nothing to do is followed by a quiet look, not a pass: an idle
fleet costs a directory listing and a few stats a minute, not a tmux call and the store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from fleetctl import logger, wake
from fleetctl.runtime import activity, heartbeat, logs, observe, passes, remote_actions, remote_wake
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.events import emit
from fleetctl.runtime.logs import mtime

MAX_IDLE_WAIT_SECONDS = 60.0
# An idle fleet is looked over every idle wait (see Supervisor.quiet); a full pass runs when
# the look finds something, and in any case once in every FULL_PASS_EVERY idle waits.
FULL_PASS_EVERY = 10
# A pass that acted is checked by another this soon, so that the idle wait after it ends in a quiet
# look, not in the full pass that a stale watch list would force.
ACTED_RECHECK_SECONDS = 1.0
SUPERVISE_ERROR_PAUSE_SECONDS = 1.0


def _never() -> bool:
    return False


def _ready_to_act(rt: Runtime) -> None:
    """Load before the first wait what the first respawn would otherwise load while its agent
    is down: libtmux (~60 ms), the fleet's kinds, read to classify how a run ended (~20 ms
    here, 50 ms on a loaded machine), and the terminal emulator that renders the run's last
    output (~45 ms). bench/compare.py's recovery is a first respawn."""
    rt.tmux.ready_to_act()
    activity.kinds(rt.spec)
    logs.load_renderer()


class Supervisor:
    """Supervises one fleet until told to stop; `idle_wait` is the longest it waits."""

    def __init__(self, rt: Runtime, idle_wait: float = MAX_IDLE_WAIT_SECONDS) -> None:
        self.rt = rt
        self.idle_wait = idle_wait

    def run(self, should_stop: Callable[[], bool] = _never) -> None:
        """Pass, wait, look (or pass again), until should_stop() says so. One failed pass is
        logged and recorded as an event; it never ends supervision."""
        rt = self.rt
        _ready_to_act(rt)
        waiter = wake.Waiter(rt.wake_fifo)
        stop_listening = remote_wake.start(rt)  # NOTIFY from other hosts, on a shared store
        config_mtime = mtime(rt.spec.path)
        idle_wait = heartbeat.wait_cap(rt, self.idle_wait)
        looked = 0  # quiet looks since the last full pass
        idle = False  # the last wait ran out with no wake-up, no deadline and no failed pass before it
        deadline: float | None = None
        try:
            while not should_stop():
                self._requests()
                now = rt.now()
                until = now + SUPERVISE_ERROR_PAUSE_SECONDS
                if idle and looked < FULL_PASS_EVERY - 1 and self.quiet():
                    looked += 1
                    until = now + idle_wait
                    heartbeat.beat(rt, full=False)
                else:
                    looked, deadline = 0, now  # stays set if the pass fails: no quiet look after a failure
                    try:
                        waiter.drain()
                        deadline = self._pass()
                        heartbeat.beat(rt, full=True)
                        now = rt.now()
                        until = deadline if deadline is not None else now + idle_wait
                    except Exception as exc:  # one bad pass must not end supervision
                        logger.get(__name__).exception("supervise tick failed")
                        with contextlib.suppress(Exception):
                            emit(rt, "supervise-error", None, f"{type(exc).__name__}: {exc}", {})
                waiter.refresh()
                woke = waiter.wait(min(max(until - now, 0.0), idle_wait))
                idle = not woke and deadline is None
                changed = mtime(rt.spec.path)
                if changed != config_mtime:
                    config_mtime = changed
                    idle = False
                    self.reload()
        finally:
            stop_listening()
            waiter.close()

    def _requests(self) -> None:
        """Carry out what other hosts asked of this one (restart, stop an agent it runs)."""
        try:
            remote_actions.carry_out(self.rt)
        except Exception:  # the store is down: the next round tries again
            logger.get(__name__).exception("requests from other hosts not carried out")

    def _pass(self) -> float | None:
        """One full pass, counted in the store; returns when the next one is due (None: idle)."""
        rt = self.rt
        with rt.store.lock():
            cycle_start = rt.clock.monotonic()
            first_event = rt.store.last_event_id()
            result = passes.tick(rt, supervisor=False)
            # A cycle did work when it acted on an agent or wrote an event (dispatch, settled
            # tasks, alerts): the same records `fleetctl events` shows.
            busy = result.acted or rt.store.last_event_id() != first_event
            rt.store.bump("supervise_cycles")
            if busy:
                rt.store.bump("supervise_busy_cycles")
            rt.store.record_cycle(rt.now(), busy, rt.clock.monotonic() - cycle_start)
        deadline = result.plan.wake_at
        if result.acted:
            recheck = rt.now() + ACTED_RECHECK_SECONDS
            deadline = recheck if deadline is None else min(deadline, recheck)
        return deadline

    def quiet(self) -> bool:
        """Has nothing happened in an idle fleet that a wake-up would not have reported? Every
        run that was live is still live (its pane's process, by pid and start time, has written
        no exit code). Costs a directory listing and a few process checks, where a full pass
        costs a tmux call, the store and the planner. Pools and passes that acted always get
        the full pass."""
        watch = self.rt.seen.watch
        if watch is None:
            return False
        names = observe.run_files(self.rt)
        return all(
            f"{run_id}.exit" not in names and self.rt.procs.alive(pid, started) for run_id, pid, started in watch
        )

    def reload(self) -> None:
        """Read the fleet file again (it changed); a broken file is reported and the old spec kept."""
        from fleetctl import spec as spec_module
        from fleetctl.errors import FleetError

        rt = self.rt
        try:
            rt.spec = spec_module.load(rt.spec.path)
            emit(rt, "config-reloaded", None, str(rt.spec.path), {})
        except FleetError as exc:
            emit(rt, "config-error", None, exc.message, {})
