"""Every supervision policy as a pure function of (spec, history, observation, now)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from fleetctl import exit_class
from fleetctl import plan as P
from fleetctl.model import (
    AgentObservation,
    AgentRecord,
    AgentSpec,
    AgentState,
    FailureClass,
    FleetSpec,
    Observation,
    PaneInfo,
    RestartPolicy,
    Run,
    StallAction,
)
from fleetctl.record import replace

NOW = 10_000.0


def agent(**kw: object) -> AgentSpec:
    base: dict[str, object] = {
        "name": "a",
        "command": "x",
        "min_uptime": 1.0,
        "start_timeout": 10.0,
        "backoff": 1.0,
        "backoff_max": 60.0,
        "max_respawns": 3,
        "respawn_window": 600.0,
    }
    base.update(kw)
    return AgentSpec(**base)  # type: ignore[arg-type]


def fleet(*agents: AgentSpec) -> FleetSpec:
    return FleetSpec(name="f", path=Path("/f/fleet.toml"), state_dir=Path("/f/.fleet"), agents=agents)


def pane(pid: int = 100, dead: bool = False, activity: float = NOW, pane_id: str = "%1") -> PaneInfo:
    return PaneInfo("@1", "a", pane_id, pid, dead, None, activity)


def seen(name: str = "a", ports: frozenset[int] = frozenset(), alive: bool = True, **kw: object) -> Observation:
    return Observation(NOW, True, {name: AgentObservation(pane(**kw), alive, (100,) if alive else (), ports)})  # type: ignore[arg-type]


def run(started: float = NOW - 100, **kw: object) -> Run:
    values: dict[str, object] = {
        "id": "r1",
        "agent": "a",
        "started": started,
        "pid": 100,
        "pane_id": "%1",
        "verified": started + 1,
        "fingerprint": agent().fingerprint(),
    }
    values.update(kw)
    return Run(**values)  # type: ignore[arg-type]


def crashed(started: float, ended: float, respawn: bool = True, rid: str = "r", **kw: object) -> Run:
    values: dict[str, object] = {"failure_class": FailureClass.CRASHED, "exit_code": 1, "stop_reason": "exited 1"}
    values.update(kw)
    return run(started=started, id=rid, ended=ended, respawn=respawn, **values)


def record(*runs: Run, **kw: object) -> AgentRecord:
    return AgentRecord(name="a", runs=tuple(sorted(runs, key=lambda r: -r.started)), **kw)  # type: ignore[arg-type]


def decide(
    spec: AgentSpec,
    rec: AgentRecord | None,
    obs: Observation | None = None,
    now: float = NOW,
    heartbeats: dict[str, float] | None = None,
) -> P.Plan:
    records = {"a": rec} if rec else {}
    return P.plan(fleet(spec), records, obs or Observation(now, True), now, heartbeats)


def kinds(p: P.Plan) -> list[str]:
    return [type(a).__name__ for a in p.actions]


# --- start and verification ------------------------------------------------------


def test_new_agent_is_spawned_once() -> None:
    p = decide(agent(), None)
    assert p.actions == (P.Spawn("a", "not running"),)


def test_healthy_agent_is_left_alone() -> None:
    p = decide(agent(), record(run()), seen())
    assert p.actions == () and p.views["a"].state is AgentState.RUNNING


def test_verify_needs_port_and_min_uptime() -> None:
    spec = agent(port=8001)
    young = record(run(started=NOW - 0.5, verified=None))
    assert kinds(decide(spec, young, seen(ports=frozenset({8001})))) == []
    old = record(run(started=NOW - 2, verified=None))
    assert kinds(decide(spec, old, seen(ports=frozenset()))) == []
    assert decide(spec, old, seen(ports=frozenset()), now=NOW).views["a"].reason == "waiting for port 8001"
    assert kinds(decide(spec, old, seen(ports=frozenset({8001})))) == ["Verify"]


def test_port_never_open_is_killed_after_start_timeout() -> None:
    spec = agent(port=8001, start_timeout=10)
    p = decide(spec, record(run(started=NOW - 10.5, verified=None)), seen())
    assert p.actions == (P.Kill("a", "r1", "start", "port 8001 not listening after 10s"),)


def test_waiting_for_port_polls_soon() -> None:
    p = decide(agent(port=8001), record(run(started=NOW - 2, verified=None)), seen())
    assert p.wake_at == pytest.approx(NOW + P.VERIFY_POLL_SECONDS)


def test_a_fresh_run_is_not_polled_before_min_uptime() -> None:
    spec = agent(port=8001, min_uptime=1.0)
    assert decide(spec, record(run(started=NOW - 0.1, verified=None)), seen()).wake_at == pytest.approx(NOW + 0.9)


# --- restart policies, caps and backoff ------------------------------------------


def test_backoff_sequence_doubles_and_caps() -> None:
    spec = agent(backoff=1.0, backoff_max=5.0)
    assert [P.backoff_delay(spec, n) for n in range(1, 6)] == [1, 2, 4, 5, 5]
    assert P.backoff_delay(agent(backoff=0.0), 3) == 0.0


def test_crash_waits_for_backoff_then_respawns() -> None:
    rec = record(crashed(NOW - 10, NOW - 0.5, respawn=False))
    waiting = decide(agent(), rec)
    assert waiting.actions == () and waiting.views["a"].state is AgentState.BACKOFF
    assert waiting.wake_at == pytest.approx(NOW + 0.5)
    later = decide(agent(), rec, now=NOW + 0.6)
    assert later.actions == (P.Spawn("a", "exited 1", respawn=True, replaces="r"),)


def test_cap_reached_exactly_at_max_respawns() -> None:
    spec = agent(max_respawns=3, backoff=0.0)
    runs = [crashed(NOW - 50 + i, NOW - 49 + i, respawn=i > 0, rid=f"r{i}") for i in range(3)]
    assert kinds(decide(spec, record(*runs))) == ["Spawn"]  # 2 respawns used: one more allowed
    runs.append(crashed(NOW - 40, NOW - 39, rid="r3"))
    p = decide(spec, record(*runs))
    assert kinds(p) == ["GiveUp"] and p.views["a"].state is AgentState.FAILED


def test_window_slides_so_old_respawns_stop_counting() -> None:
    spec = agent(max_respawns=2, respawn_window=60.0, backoff=0.0)
    runs = [
        crashed(NOW - 100, NOW - 99, rid="r1"),
        crashed(NOW - 90, NOW - 89, rid="r2"),
        crashed(NOW - 10, NOW - 1, rid="r3"),
    ]
    assert P.respawns_used(spec, record(*runs), NOW) == 1
    assert kinds(decide(spec, record(*runs))) == ["Spawn"]
    assert kinds(decide(spec, record(*runs), now=NOW - 50)) == ["GiveUp"]


def test_backoff_resets_once_runs_stay_healthy_for_the_window() -> None:
    spec = agent(respawn_window=60.0, backoff=1.0)
    rec = record(crashed(NOW - 500, NOW - 499, rid="old1"), crashed(NOW - 400, NOW - 2, rid="long"))
    p = decide(spec, rec)
    assert kinds(p) == ["Spawn"]  # no respawn within the window: delay is backoff * 2^0 = 1s, already passed


def test_reset_clears_the_counter() -> None:
    spec = agent(max_respawns=1, backoff=0.0)
    rec = record(crashed(NOW - 20, NOW - 19, rid="r1"), crashed(NOW - 10, NOW - 9, rid="r2"))
    assert kinds(decide(spec, rec)) == ["GiveUp"]
    assert kinds(decide(spec, replace(rec, counter_reset_at=NOW - 5))) == ["Spawn"]


def test_failed_agent_stays_failed() -> None:
    p = decide(agent(), record(crashed(NOW - 10, NOW - 9), failed_reason="gave up"))
    assert p.actions == () and p.views["a"].state is AgentState.FAILED


def test_a_failed_agent_whose_pane_lives_on_is_left_alone() -> None:
    # an interactive agent showing an auth error: failed, its pane kept for a person to read
    spec = agent(idle_timeout=30.0, wall_timeout=60.0)
    p = decide(spec, record(run(started=NOW - 100), failed_reason="auth: API Error: 401"), seen(activity=NOW - 90))
    assert p.actions == ()
    assert (p.views["a"].state, p.views["a"].reason) == (AgentState.FAILED, "auth: API Error: 401")


@pytest.mark.parametrize(
    "policy,code,expected",
    [
        (RestartPolicy.ON_FAILURE, 0, AgentState.COMPLETED),
        (RestartPolicy.ON_FAILURE, 1, AgentState.STARTING),
        (RestartPolicy.ALWAYS, 0, AgentState.STARTING),
        (RestartPolicy.NEVER, 1, AgentState.FAILED),
        (RestartPolicy.NEVER, 0, AgentState.COMPLETED),
    ],
)
def test_restart_modes(policy: RestartPolicy, code: int, expected: AgentState) -> None:
    cls = FailureClass.EXITED if code == 0 else FailureClass.CRASHED
    rec = record(crashed(NOW - 10, NOW - 5, respawn=False, exit_code=code, failure_class=cls))
    assert decide(agent(restart=policy), rec).views["a"].state is expected


def test_stopped_by_person_is_not_respawned() -> None:
    rec = record(crashed(NOW - 10, NOW - 5, stopped_by="down", failure_class=FailureClass.KILLED), desired="stopped")
    p = decide(agent(), rec)
    assert p.actions == () and p.views["a"].state is AgentState.STOPPED


# --- timeouts, health, stalls ------------------------------------------------------


def test_wall_timeout_kills() -> None:
    spec = agent(wall_timeout=60.0)
    assert kinds(decide(spec, record(run(started=NOW - 59)), seen())) == []
    assert decide(spec, record(run(started=NOW - 59)), seen()).wake_at == pytest.approx(NOW + 1)
    p = decide(spec, record(run(started=NOW - 61)), seen())
    assert kinds(p) == ["Kill"] and p.actions[0].reason == "wall"  # type: ignore[union-attr]


def test_health_failures_kill_at_threshold() -> None:
    spec = agent(health="true", health_failures=3)
    assert kinds(decide(spec, record(run(), health_failures=2), seen())) == []
    p = decide(spec, record(run(), health_failures=3), seen())
    assert kinds(p) == ["Kill"] and p.actions[0].reason == "health"  # type: ignore[union-attr]


def test_idle_needs_every_signal_quiet() -> None:
    spec = agent(idle_timeout=30.0)
    quiet = record(run(started=NOW - 100), last_activity=NOW - 40)
    p = decide(spec, quiet, seen(activity=NOW - 40))
    assert kinds(p) == ["Kill"] and p.actions[0].failure_class is FailureClass.STALLED  # type: ignore[union-attr]
    assert "no pane output for 40s" in p.views["a"].reason
    # recent pane output, CPU/IO activity or a heartbeat each keep it alive
    assert kinds(decide(spec, quiet, seen(activity=NOW - 5))) == []
    assert kinds(decide(spec, replace(quiet, last_activity=NOW - 5), seen(activity=NOW - 40))) == []
    assert kinds(decide(spec, quiet, seen(activity=NOW - 40), heartbeats={"a": NOW - 1})) == []


def test_an_active_agent_is_sampled_again_halfway_through_its_idle_timeout() -> None:
    # `status` judges by the last sample: one taken a whole idle_timeout ago would show a
    # busy agent as stalled for as long as the supervisor's next pass takes.
    spec = agent(idle_timeout=30.0)
    fresh = record(run(started=NOW - 100), last_activity=NOW - 2)
    assert decide(spec, fresh, seen(activity=NOW - 40)).wake_at == pytest.approx(NOW + 13)
    # past halfway without a sign of life: the next look is when it would stall (no busy loop)
    quiet = record(run(started=NOW - 100), last_activity=NOW - 20)
    assert decide(spec, quiet, seen(activity=NOW - 40)).wake_at == pytest.approx(NOW + 10)
    later = record(run(started=NOW - 100), last_activity=NOW - 16)
    assert decide(spec, later, seen(activity=NOW - 40)).wake_at == pytest.approx(NOW + 14)


def test_idle_notify_marks_once() -> None:
    spec = agent(idle_timeout=30.0, stall_action=StallAction.NOTIFY)
    quiet = record(run(started=NOW - 100), last_activity=NOW - 40)
    assert kinds(decide(spec, quiet, seen(activity=NOW - 40))) == ["MarkStalled"]
    marked = replace(quiet, stalled_since=NOW - 1)
    p = decide(spec, marked, seen(activity=NOW - 40))
    assert kinds(p) == [] and p.views["a"].state is AgentState.STALLED


# --- fallback, config changes, adoption, removal ---------------------------------------


def test_fallback_after_consecutive_primary_failures() -> None:
    spec = agent(fallback="y", fallback_after=2, max_respawns=10, backoff=0.0)
    one = record(crashed(NOW - 20, NOW - 19, rid="r1"))
    assert P.use_fallback(spec, one) is False
    two = record(crashed(NOW - 20, NOW - 19, rid="r1"), crashed(NOW - 10, NOW - 9, rid="r2"))
    assert P.use_fallback(spec, two) is True
    assert decide(spec, two).actions[0].fallback is True  # type: ignore[union-attr]
    healthy_between = record(
        crashed(NOW - 30, NOW - 29, rid="r0"),
        run(started=NOW - 20, id="ok", ended=NOW - 15, failure_class=FailureClass.EXITED),
        crashed(NOW - 10, NOW - 9, rid="r2"),
    )
    assert P.use_fallback(spec, healthy_between) is False


def test_config_change_restarts() -> None:
    p = decide(agent(command="new"), record(run()), seen())
    assert kinds(p) == ["Kill"] and p.actions[0].then_spawn  # type: ignore[union-attr]


def test_unknown_live_window_is_adopted_not_killed() -> None:
    p = decide(agent(), None, seen(pid=4242))
    assert p.actions == (P.Adopt("a", "@1", "%1", 4242),)


def test_agent_removed_from_config_is_removed() -> None:
    obs = Observation(NOW, True, {"gone": AgentObservation(replace(pane(), window_name="gone"), True, (5,))})
    p = P.plan(fleet(agent()), {"gone": AgentRecord("gone", runs=(run(agent="gone"),))}, obs, NOW)
    assert P.Remove("gone", "r1", "@1") in p.actions


def test_a_shared_store_keeps_the_records_of_other_hosts_agents() -> None:
    """Another host's agent has a record in the shared store and no window here: this host
    neither ends its run nor forgets it (removal from one machine's records alone is for SQLite)."""
    there = {"there": AgentRecord("there", desired="stopped", runs=(run(agent="there"),))}
    one_machine = P.plan(fleet(agent()), there, Observation(NOW, True), NOW)
    assert P.Remove("there", "r1", None) in one_machine.actions
    shared = replace(fleet(agent()), store="postgresql://fleet@127.0.0.1/fleet", host="alpha")
    assert not [a for a in P.plan(shared, there, Observation(NOW, True), NOW).actions if isinstance(a, P.Remove)]


def test_task_windows_are_not_agents() -> None:
    p = P.plan(fleet(), {"pool.7": AgentRecord("pool.7", runs=(run(agent="pool.7"),))}, Observation(NOW, True), NOW)
    assert p.actions == ()


def test_budget_limits_spawns_per_tick() -> None:
    specs = tuple(agent(name=f"a{i}") for i in range(10))
    p = P.plan(replace(fleet(*specs), max_actions_per_tick=4), {}, Observation(NOW, True), NOW)
    assert kinds(p) == ["Spawn"] * 4


# --- classification of an ended run (exit_class.py) ------------------------------------


def test_rate_limit_parks_until_retry_after() -> None:
    cls, reason, until = exit_class.classify(
        agent(rate_limit_patterns=(r"\b429\b",)),
        1,
        None,
        "working\nError: 429 rate limit exceeded, retry after 5s",
        NOW,
    )
    assert cls is FailureClass.RATE_LIMITED and until == pytest.approx(NOW + 5)
    assert "429" in reason


def test_resets_at_clock_time() -> None:
    now = datetime(2026, 1, 1, 14, 0).timestamp()
    three_pm = datetime(2026, 1, 1, 15, 0).timestamp()
    assert exit_class.park_until("usage limit reached, resets at 3pm", now, 900) == three_pm
    assert exit_class.park_until("resets at 13:30", now, 900) == datetime(2026, 1, 2, 13, 30).timestamp()
    assert exit_class.park_until("Retry-After: 120", now, 900) == now + 120
    assert exit_class.park_until("slow down", now, 900) == now + 900


def test_auth_and_crash_and_clean_exit() -> None:
    spec = agent(auth_patterns=(r"invalid[ _-]?api[ _-]?key",), rate_limit_patterns=(r"\b429\b",))
    assert exit_class.classify(spec, 1, None, "401 invalid api key", NOW)[0] is FailureClass.AUTH
    assert exit_class.classify(spec, 2, None, "segfault", NOW)[:2] == (FailureClass.CRASHED, "exited with code 2")
    assert exit_class.classify(spec, None, 9, "", NOW)[1] == "killed by signal 9"
    assert exit_class.classify(spec, 0, None, "429", NOW)[0] is FailureClass.EXITED


def test_parked_agent_waits_without_spending_budget() -> None:
    rl = crashed(NOW - 10, NOW - 5, failure_class=FailureClass.RATE_LIMITED)
    parked = decide(agent(), record(rl, parked_until=NOW + 5))
    assert parked.views["a"].state is AgentState.PARKED and parked.wake_at == NOW + 5
    after = decide(agent(), record(rl, parked_until=NOW - 1))
    assert after.actions == (P.Spawn("a", "park ended", replaces="r"),)  # respawn=False: budget untouched


def test_auth_gives_up_at_once() -> None:
    p = decide(agent(), record(crashed(NOW - 10, NOW - 5, respawn=False, failure_class=FailureClass.AUTH)))
    assert kinds(p) == ["GiveUp"]


def test_exit_codes() -> None:
    v = P.AgentView
    assert P.exit_code({"a": v("a", AgentState.RUNNING), "b": v("b", AgentState.STOPPED)}) == 0
    assert P.exit_code({"a": v("a", AgentState.RUNNING), "b": v("b", AgentState.PARKED)}) == 3
    assert P.exit_code({"a": v("a", AgentState.BACKOFF), "b": v("b", AgentState.FAILED)}) == 1


def test_a_finished_run_whose_wrapper_lingers_is_respawned_not_adopted() -> None:
    ended = crashed(NOW - 10, NOW - 0.01, respawn=False, rid="r1", pane_id="%1")
    p = decide(agent(backoff=0.0), record(ended), seen())  # the pane still shows the wrapper alive
    assert p.actions == (P.Spawn("a", "exited 1", respawn=True, replaces="r1"),)


def test_a_clean_exit_after_min_uptime_spends_no_respawn_under_restart_always() -> None:
    spec = agent(restart=RestartPolicy.ALWAYS, max_respawns=1)
    # the budget is used up by an earlier crash; the last run succeeded after it was verified
    clean = crashed(NOW - 10, NOW - 5, False, "r2", exit_code=0, failure_class=FailureClass.EXITED)
    rec = record(crashed(NOW - 30, NOW - 25, rid="r1"), clean)
    p = decide(spec, rec)
    assert kinds(p) == ["Spawn"] and p.actions[0].respawn is False  # type: ignore[union-attr]
    assert p.views["a"].state is AgentState.STARTING and p.views["a"].respawns == 1
    # a run that exited 0 before min_uptime is still a respawn, and the cap holds
    early = replace(clean, verified=None)
    assert kinds(decide(spec, record(crashed(NOW - 30, NOW - 25, rid="r1"), early))) == ["GiveUp"]


def test_a_restart_asked_for_starts_a_run_that_is_over_without_spending_budget() -> None:
    done = run(started=NOW - 10, ended=NOW - 5, failure_class=FailureClass.EXITED, exit_code=0, stop_reason="done")
    on_failure = agent(restart=RestartPolicy.ON_FAILURE)
    assert decide(on_failure, record(done)).views["a"].state is AgentState.COMPLETED
    restart = P.plan(fleet(on_failure), {"a": record(done)}, Observation(NOW, True), NOW, restart={"a"})
    assert restart.actions == (P.Spawn("a", "restart", replaces="r1"),)  # respawn=False: budget untouched
    rl = crashed(NOW - 10, NOW - 5, failure_class=FailureClass.RATE_LIMITED)
    parked = P.plan(
        fleet(agent()), {"a": record(rl, parked_until=NOW + 60)}, Observation(NOW, True), NOW, restart={"a"}
    )
    assert parked.actions == (P.Spawn("a", "restart", replaces="r"),)
    in_backoff = crashed(NOW - 2, NOW - 0.5)
    assert decide(agent(backoff=10.0), record(in_backoff)).views["a"].state is AgentState.BACKOFF
    now_again = P.plan(
        fleet(agent(backoff=10.0)), {"a": record(in_backoff)}, Observation(NOW, True), NOW, restart={"a"}
    )
    assert now_again.actions == (P.Spawn("a", "restart", replaces="r"),)


def test_a_restart_asked_for_leaves_a_failed_agent_to_reset() -> None:
    gave_up = record(crashed(NOW - 10, NOW - 5), failed_reason="gave up")
    p = P.plan(fleet(agent()), {"a": gave_up}, Observation(NOW, True), NOW, restart={"a"})
    assert p.actions == () and p.views["a"].state is AgentState.FAILED
