"""Activity of agents of known kinds, read from real tmux panes: a pass captures only changed
panes (all in one tmux call), stores what it read, reports each change; `status` shows it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetctl.tmux import TmuxGateway, WindowRequest
from tests.conftest import FleetHarness, wait_for

pytestmark = pytest.mark.tmux

SCREENS = Path(__file__).resolve().parent.parent / "fixtures" / "screens"


def fake_claude(fleet_dir: FleetHarness) -> tuple[Path, Path]:
    """A script that shows Claude Code's prompt, then (once `trigger` exists) its permission question."""
    trigger = fleet_dir.dir / "trigger"
    script = fleet_dir.dir / "fake-claude.sh"
    script.write_text(
        f"cat {SCREENS / 'claude' / 'waiting.txt'}\n"
        f"while [ ! -e {trigger} ]; do sleep 0.05; done\n"
        f"clear; cat {SCREENS / 'claude' / 'asking.txt'}\n"
        "exec sleep 1000\n"
    )
    return script, trigger


def activity(fleet_dir: FleetHarness, name: str) -> str:
    fleet_dir.run("reconcile")
    return str(fleet_dir.status()[name]["activity"])


@pytest.mark.timeout(60)
def test_a_kind_agent_goes_from_waiting_to_asking_and_status_shows_it(
    fleet_dir: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    script, trigger = fake_claude(fleet_dir)
    fleet_dir.write(f"""
    [agents.coder]
    command = "sh {script}"
    kind = "claude"
    min_uptime = "0.2s"
    [agents.plain]
    command = "sleep 1000"
    min_uptime = "0.2s"
    """)
    assert fleet_dir.run("up").code == 0
    wait_for(lambda: activity(fleet_dir, "coder") == "waiting", what="coder waiting", explain=fleet_dir.explain)
    assert fleet_dir.status()["plain"]["activity"] == "-"  # a generic agent: no reading

    trigger.touch()
    wait_for(lambda: activity(fleet_dir, "coder") == "asking", what="coder asking", explain=fleet_dir.explain)
    row = fleet_dir.status()["coder"]
    assert row["activity_detail"] == "Do you want to proceed?"
    table = fleet_dir.run("status").out.splitlines()
    assert table[0].split()[:3] == ["NAME", "STATE", "ACTIVITY"]
    assert next(line for line in table if line.startswith("coder")).split()[:3] == ["coder", "running", "asking"]
    assert "  activity:   asking: Do you want to proceed?" in fleet_dir.run("status", "coder").out

    changes = [e for e in fleet_dir.fleet().store.events(agent="coder") if e.kind == "activity"]
    assert [(e.data["before"], e.data["activity"]) for e in changes] == [("-", "waiting"), ("waiting", "asking")]

    # nothing changed on screen: once a look a second after the last output has happened, a pass
    # captures nothing (the last look stays where it was)
    fleet = fleet_dir.fleet()
    wait_for(lambda: fleet.clock.time() >= fleet.store.activities()["coder"].looked + 1.1, what="a second")
    fleet.tick()
    looked = fleet.store.activities()["coder"].looked
    fleet = fleet_dir.fleet()
    fleet.tick()
    assert fleet.tmux.calls == 1  # the one list-panes
    assert fleet_dir.fleet().store.activities()["coder"].looked == looked


@pytest.mark.timeout(60)
def test_changed_panes_are_captured_in_one_tmux_call(fleet_dir: FleetHarness) -> None:
    limited = SCREENS / "claude" / "limited.txt"
    waiting = SCREENS / "claude" / "waiting.txt"
    fleet_dir.write(f"""
    [defaults]
    kind = "claude"
    min_uptime = "0.2s"
    [agents.one]
    command = "cat {waiting}; exec sleep 1000"
    [agents.two]
    command = "cat {limited}; exec sleep 1000"
    [agents.three]
    command = "cat {waiting}; exec sleep 1000"
    """)
    assert fleet_dir.run("up").code == 0
    fleet = fleet_dir.fleet()
    wait_for(lambda: fleet_dir.status()["three"]["state"] == "running", what="three running")
    # Whatever `up`'s own passes looked at is forgotten, so all three panes count as changed.
    fleet.store.seen_doing.forget_activity(["one", "two", "three"])
    fleet.tick()
    assert fleet.tmux.calls == 2  # list-panes, then one capture of all three panes
    rows = {name: r["activity"] for name, r in fleet_dir.status().items()}
    assert rows == {"one": "waiting", "two": "limited", "three": "waiting"}
    assert json.loads(fleet_dir.run("status", "--json", "two").out)[0]["reset_at"] is not None


def test_screens_come_back_by_pane_even_with_one_pane_gone(gateway: TmuxGateway, tmp_path: Path) -> None:
    requests = [
        WindowRequest(name=f"w{i}", argv=("sh", "-c", f"echo screen-{i}; exec sleep 100"), cwd=str(tmp_path))
        for i in range(4)
    ]
    opened = gateway.open_windows(requests).opened
    ids = [w.pane_id for w in opened]
    wait_for(lambda: gateway.capture(ids[-1]).strip() == "screen-3", what="the last window's output")
    calls = gateway.calls
    screens = gateway.capture_screens(ids)
    assert gateway.calls == calls + 1  # all of them in one tmux call
    assert {pane: text.strip() for pane, text in screens.items()} == {ids[i]: f"screen-{i}" for i in range(4)}
    assert gateway.panes() is not None and {p.title for p in gateway.panes() or []}  # titles are read
    gateway.kill_windows([opened[1].window_id])
    screens = gateway.capture_screens(ids)
    assert {pane: text.strip() for pane, text in screens.items()} == {ids[i]: f"screen-{i}" for i in (0, 2, 3)}


@pytest.mark.timeout(60)
def test_idle_timeout_spares_a_waiting_agent_and_stalls_one_stuck_retrying(fleet_dir: FleetHarness) -> None:
    waiting = SCREENS / "claude" / "waiting.txt"
    retrying = SCREENS / "claude" / "retrying.txt"
    fleet_dir.write(f"""
    [defaults]
    min_uptime = "0.2s"
    idle_timeout = "2s"
    stall_action = "notify"
    [agents.idle]
    command = "cat {waiting}; exec sleep 1000"
    kind = "claude"
    [agents.stuck]
    command = "cat {retrying}; exec sleep 1000"
    kind = "claude"
    [agents.plain]
    command = "sleep 1000"
    """)
    assert fleet_dir.run("up").code == 0

    def states() -> dict[str, str]:
        fleet_dir.run("reconcile")
        return {name: str(row["state"]) for name, row in fleet_dir.status().items()}

    wait_for(lambda: states()["stuck"] == "stalled", timeout=20, what="stuck stalled", explain=fleet_dir.explain)
    wait_for(lambda: states()["plain"] == "stalled", timeout=20, what="plain stalled", explain=fleet_dir.explain)
    row = fleet_dir.status()["idle"]
    assert row["state"] == "running" and row["activity"] == "waiting", row  # waiting for a person: reported
    assert fleet_dir.status()["stuck"]["activity"] == "retrying"


ASKER = """
import sys, termios, tty
sys.stdout.write(open(sys.argv[1]).read()); sys.stdout.flush()
tty.setcbreak(0)
got = sys.stdin.read(1)
open(sys.argv[3], "w").write(got)
sys.stdout.write("\\x1b[2J\\x1b[H" + open(sys.argv[2]).read()); sys.stdout.flush()
sys.stdin.read()
"""


@pytest.mark.timeout(60)
def test_a_question_is_asking_then_answered_with_the_kinds_key(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    script, got = tmp_path / "asker.py", tmp_path / "got"
    script.write_text(ASKER)
    asking, waiting = SCREENS / "claude" / "asking.txt", SCREENS / "claude" / "waiting.txt"
    alerts = tmp_path / "alerts"
    fleet_dir.write(
        f"""
    [agents.coder]
    command = "python3 {script} {asking} {waiting} {got}"
    kind = "claude"
    min_uptime = "0.2s"
    """,
        extra_fleet=f'on_alert = "cat >> {alerts}; echo >> {alerts}"',
    )
    assert fleet_dir.run("up").code == 0
    wait_for(lambda: activity(fleet_dir, "coder") == "asking", what="coder asking", explain=fleet_dir.explain)
    for _ in range(3):  # the same question on screen: never notified twice
        fleet_dir.run("reconcile")
    sent = [json.loads(line) for line in alerts.read_text().splitlines() if line.strip()]
    assert [(a["event"], a["agent"], a["reason"]) for a in sent] == [("asking", "coder", "Do you want to proceed?")]
    inbox = json.loads(fleet_dir.run("inbox", "human", "--json").out)
    assert len(inbox) == 1 and "coder asks: Do you want to proceed?" in inbox[0]["text"], inbox

    bad = fleet_dir.run("keys", "coder", "not a key")
    assert bad.code == 2 and "not a tmux key name" in bad.err and not got.exists()
    assert fleet_dir.run("answer", "nobody", "yes").code == 2

    result = fleet_dir.run("answer", "coder", "yes")
    assert result.code == 0 and result.out.strip() == "coder: typed 1", result
    wait_for(lambda: got.exists() and got.read_text() == "1", what="the approve key to arrive")
    wait_for(lambda: activity(fleet_dir, "coder") == "waiting", what="coder waiting again", explain=fleet_dir.explain)
    answered = [e for e in fleet_dir.fleet().store.events(agent="coder") if e.kind == "answered"]
    assert len(answered) == 1 and answered[0].data["keys"] == ["1"]


@pytest.mark.timeout(60)
def test_on_ask_approve_answers_a_matching_question_itself(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    script, got = tmp_path / "asker.py", tmp_path / "got"
    script.write_text(ASKER)
    asking, waiting = SCREENS / "claude" / "asking.txt", SCREENS / "claude" / "waiting.txt"
    fleet_dir.write(f"""
    [agents.coder]
    command = "python3 {script} {asking} {waiting} {got}"
    kind = "claude"
    min_uptime = "0.2s"
    on_ask = "approve"
    approve_patterns = ["want to proceed"]
    """)
    assert fleet_dir.run("up").code == 0
    wait_for(lambda: activity(fleet_dir, "coder") == "waiting", what="the question approved", explain=fleet_dir.explain)
    assert got.read_text() == "1"
    assert json.loads(fleet_dir.run("inbox", "human", "--json").out) == []  # nobody was bothered


LIMITED = """
import sys
sys.stdout.write("> continue the refactor\\n\\n")
sys.stdout.write("API Error: Request rejected (429) · Rate limit reached. Please try again in 5s.\\n")
sys.stdout.flush()
line = input()
open(sys.argv[1], "w").write(line)
sys.stdout.write("\\x1b[2J\\x1b[H✻ Sautéing… (1s · esc to interrupt)\\n"); sys.stdout.flush()
sys.stdin.read()
"""


@pytest.mark.timeout(60)
def test_a_limited_agent_is_parked_then_gets_its_continue_text_at_the_reset_and_works_again(
    fleet_dir: FleetHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    script, got = tmp_path / "limited.py", tmp_path / "got"
    script.write_text(LIMITED)
    fleet_dir.write(f"""
    [agents.coder]
    command = "python3 {script} {got}"
    kind = "claude"
    min_uptime = "0.2s"
    """)
    assert fleet_dir.run("up").code == 0
    wait_for(lambda: activity(fleet_dir, "coder") == "limited", what="coder limited", explain=fleet_dir.explain)
    row = fleet_dir.status()["coder"]
    # parked until its reset, as a headless agent at a limit is; the activity stays beside it
    assert row["state"] == "parked" and row["activity"] == "limited" and row["reset_at"] is not None, row
    assert row["next_retry_s"] is not None and row["reason"].startswith("limited: API Error"), row
    pid = row["pid"]
    line = next(x for x in fleet_dir.run("status").out.splitlines() if x.startswith("coder"))
    assert line.split()[:3] == ["coder", "parked", "limited"] and "(retry in " in line, line
    told = fleet_dir.run("status", "coder").out
    assert "  state:      parked" in told and "  next retry: in " in told, told
    assert not got.exists()
    wait_for(
        lambda: activity(fleet_dir, "coder") == "working", timeout=20, what="working again", explain=fleet_dir.explain
    )
    assert got.read_text() == "continue"
    after = fleet_dir.status()["coder"]
    # never killed for it, never charged to the respawn budget
    assert (after["state"], after["pid"], after["respawns"], after["last_exit"]) == ("running", pid, 0, None), after
    continued = [e for e in fleet_dir.fleet().store.events(agent="coder") if e.kind == "continued"]
    assert len(continued) == 1 and continued[0].time >= float(row["reset_at"])  # type: ignore[arg-type]


PROMPTED = """
import sys, tty
sys.stdout.write(open(sys.argv[1]).read()); sys.stdout.flush()
tty.setcbreak(0)
typed = ""
while True:
    c = sys.stdin.read(1)
    if c in "\\r\\n" and sys.argv[3] == "works":
        open(sys.argv[2], "w").write(typed)
        sys.stdout.write("\\x1b[2J\\x1b[H✻ Sautéing… (1s · esc to interrupt)\\n"); sys.stdout.flush()
    else:
        typed += c
"""


@pytest.mark.timeout(90)
def test_send_wake_types_at_the_prompt_and_checks_the_agent_went_working(
    fleet_dir: FleetHarness, tmp_path: Path
) -> None:
    script, got = tmp_path / "prompted.py", tmp_path / "got"
    script.write_text(PROMPTED)
    waiting, asking = SCREENS / "claude" / "waiting.txt", SCREENS / "claude" / "asking.txt"
    fleet_dir.write(f"""
    [defaults]
    kind = "claude"
    min_uptime = "0.2s"
    [agents.coder]
    command = "python3 {script} {waiting} {got} works"
    [agents.deaf]
    command = "python3 {script} {waiting} {got}.deaf ignores"
    [agents.busy]
    command = "python3 {script} {asking} {got}.busy works"
    """)
    assert fleet_dir.run("up").code == 0
    result = fleet_dir.run("send", "coder", "hello there, fix the build", "--wake")
    assert result.code == 0 and "coder: typed and submitted; it is working" in result.out, result
    assert "hello there, fix the build" in got.read_text()

    result = fleet_dir.run("send", "deaf", "anyone?", "--wake")
    assert result.code == 1 and "did not start working" in result.err, result

    result = fleet_dir.run("send", "busy", "not now", "--wake", "--timeout", "1")
    assert result.code == 1 and "did not come to its prompt within 1s (it is asking)" in result.err, result
    assert not Path(f"{got}.busy").exists()


@pytest.mark.timeout(60)
def test_retrying_past_retry_timeout_is_handled_as_the_error_it_retries(
    fleet_dir: FleetHarness, tmp_path: Path
) -> None:
    retrying = (SCREENS / "claude" / "retrying.txt").read_text()
    screens = {
        "crashy": retrying,  # an API error it names no further: a crash
        "limity": retrying.replace("> fix the failing test", "Repeated 429 Overloaded errors"),
        "authy": retrying.replace("> fix the failing test", "proxy: badge expired"),
    }
    agents = ""
    for name, text in screens.items():
        (tmp_path / f"{name}.txt").write_text(text)
        agents += f'[agents.{name}]\ncommand = "cat {tmp_path / name}.txt; exec sleep 1000"\n'
    alerts = tmp_path / "alerts"
    fleet_dir.write(
        f"""
    [defaults]
    kind = "claude"
    min_uptime = "0.2s"
    retry_timeout = "2s"
    failure_patterns = {{ auth = ["badge expired"] }}
    {agents}
    """,
        extra_fleet=f'on_alert = "cat >> {alerts}; echo >> {alerts}"',
    )
    assert fleet_dir.run("up").code == 0
    wait_for(
        lambda: {activity(fleet_dir, n) for n in screens} == {"retrying"},
        what="all retrying",
        explain=fleet_dir.explain,
    )
    assert {r["state"] for r in fleet_dir.status().values()} == {"running"}  # retrying: reported, left alone

    def handled() -> bool:
        fleet_dir.run("reconcile")
        rows = fleet_dir.status()
        return (
            int(rows["crashy"]["respawns"]) >= 1
            and rows["limity"]["state"] == "parked"
            and rows["authy"]["state"] == "failed"
        )

    wait_for(handled, timeout=20, what="each retry loop handled", explain=fleet_dir.explain)
    rows = fleet_dir.status()
    assert rows["crashy"]["last_exit"] == "killed (retrying past retry_timeout 2s)", rows["crashy"]
    killed = [e for e in fleet_dir.fleet().store.events(agent="crashy") if e.kind == "killed"]
    assert "API error · Retrying in 19s" in killed[0].reason
    limity = rows["limity"]
    assert (limity["activity"], limity["respawns"], limity["last_exit"]) == ("limited", 0, None), limity
    assert limity["reason"] == "limited: Repeated 429 Overloaded errors" and limity["next_retry_s"], limity
    authy = rows["authy"]
    assert str(authy["reason"]).startswith("auth: proxy: badge expired (retrying past retry_timeout 2s)"), authy
    sent = [json.loads(line) for line in alerts.read_text().splitlines() if line.strip()]
    assert [(a["event"], a["agent"]) for a in sent if a["agent"] == "authy"] == [("failed", "authy")], sent
    assert "auth" in next(a["reason"] for a in sent if a["agent"] == "authy")


SPINNING = """
import itertools, sys, time
for i in itertools.count():
    done = f"⏺ Edit(file_{i}.py)\\n" if sys.argv[1] == "progress" else ""
    glyph = "✻✶✳✢✽"[i % 5]
    sys.stdout.write(f"\\x1b[2J\\x1b[H> fix the failing test\\n\\n{done}{glyph} Sautéing… ({i}s · esc to interrupt)\\n")
    sys.stdout.flush()
    time.sleep(0.3)
"""


@pytest.mark.timeout(60)
def test_a_spinner_turning_over_a_hung_call_is_stalled_and_real_progress_is_not(
    fleet_dir: FleetHarness, tmp_path: Path
) -> None:
    script = tmp_path / "spinning.py"
    script.write_text(SPINNING)
    fleet_dir.write(f"""
    [defaults]
    kind = "claude"
    min_uptime = "0.2s"
    idle_timeout = "3s"
    [agents.hung]
    command = "python3 {script} hung"
    [agents.busy]
    command = "python3 {script} progress"
    """)
    assert fleet_dir.run("up").code == 0
    wait_for(lambda: activity(fleet_dir, "hung") == "working", what="hung working", explain=fleet_dir.explain)

    def stalls(name: str) -> list[str]:
        return [e.reason for e in fleet_dir.fleet().store.events(agent=name) if e.kind == "stalled"]

    def hung_stalled() -> bool:
        fleet_dir.run("reconcile")
        return bool(stalls("hung"))

    wait_for(hung_stalled, timeout=30, what="the hung agent stalled", explain=fleet_dir.explain)
    assert stalls("hung")[0].startswith("stalled: working with no progress on screen or in its transcript for "), (
        stalls("hung")
    )
    assert stalls("busy") == []  # new text on its screen every second: work
    busy = fleet_dir.status()["busy"]
    assert (busy["state"], busy["activity"], busy["respawns"]) == ("running", "working", 0), busy


@pytest.mark.timeout(90)
def test_send_to_a_kind_or_a_label_reaches_each_agent_and_says_which_failed(
    fleet_dir: FleetHarness, tmp_path: Path
) -> None:
    script, got = tmp_path / "prompted.py", tmp_path / "got"
    script.write_text(PROMPTED)
    waiting = SCREENS / "claude" / "waiting.txt"
    fleet_dir.write(f"""
    [defaults]
    min_uptime = "0.2s"
    [agents.coder]
    command = "python3 {script} {waiting} {got} works"
    kind = "claude"
    labels = ["night", "backend"]
    [agents.resting]
    command = "python3 {script} {waiting} {got}.resting works"
    kind = "claude"
    [agents.plain]
    command = "sleep 1000"
    labels = ["night"]
    """)
    assert fleet_dir.run("up").code == 0
    assert fleet_dir.run("down", "resting").code == 0

    bad = fleet_dir.run("send", "coder", "--kind", "claude", "hello")
    assert bad.code == 2 and len(bad.err.strip().splitlines()) == 1 and "expected only the TEXT" in bad.err, bad
    bad = fleet_dir.run("send", "--label", "nobody", "hello")
    assert bad.code == 2 and "--label nobody: no agent of the fleet has that label (labels in use:" in bad.err, bad
    both = fleet_dir.run("send", "--kind", "claude", "--label", "night", "hello")
    assert both.code == 2 and "--kind and --label: expected one of them, not both" in both.err, both
    assert json.loads(fleet_dir.run("inbox", "coder", "--json").out) == []  # nothing was sent

    result = fleet_dir.run("send", "--kind", "claude", "fix the build", "--wake")
    assert result.code == 1, result
    lines = result.out.strip().splitlines()
    assert lines[0] == "coder: typed and submitted; it is working", result
    assert lines[1].startswith("resting: resting is not running"), result
    assert lines[-1] == "sent to 2 agents: 1 reached, 1 failed", result
    assert "fix the build" in got.read_text()

    result = fleet_dir.run("send", "--label", "night", "time to stop")
    assert result.code == 0, result
    assert [line.split(":")[0] for line in result.out.strip().splitlines()] == ["coder", "plain", "sent to 2 agents"]
    assert [m["text"] for m in json.loads(fleet_dir.run("inbox", "plain", "--json").out)] == ["time to stop"]

    rows = fleet_dir.status()
    assert rows["coder"]["labels"] == ["night", "backend"] and rows["resting"]["labels"] == []
    assert "  labels:     night, backend" in fleet_dir.run("status", "coder").out
