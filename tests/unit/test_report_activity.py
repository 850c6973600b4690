"""`report`: the time each agent spent in each activity, counted from synthetic activity events."""

from __future__ import annotations

import json

from fleetctl import report
from fleetctl.cli.report_text import render_text
from fleetctl.model import Event
from fleetctl.report.activity import activity_time

T0 = 1_800_000_000.0


def ev(t: float, kind: str, agent: str, **data: object) -> Event:
    return Event(time=T0 + t, kind=kind, agent=agent, reason="", data=data, id=int(t * 10) + 1)


def change(t: float, agent: str, before: str, after: str) -> Event:
    return ev(t, "activity", agent, before=before, activity=after)


EVENTS = [
    # coder was already waiting when the window began (its first change says so)
    change(100, "coder", "waiting", "working"),
    change(700, "coder", "working", "asking"),
    change(760, "coder", "asking", "working"),
    change(1000, "coder", "working", "limited"),
    change(2800, "coder", "limited", "working"),
    # helper starts inside the window; its run ends, and a new run reads again later
    ev(50, "spawned", "helper"),
    change(60, "helper", "-", "working"),
    change(260, "helper", "working", "retrying"),
    ev(560, "killed", "helper"),
    ev(570, "respawned", "helper"),
    change(600, "helper", "waiting", "waiting"),
    # events outside the window are not counted
    change(-500, "coder", "working", "waiting"),
    change(4000, "coder", "working", "waiting"),
]


def test_each_activity_is_timed_from_its_change_to_the_next() -> None:
    spent = activity_time(EVENTS, T0, T0 + 3600, ["coder", "helper", "plain"])
    assert spent["coder"] == {
        "working": 600.0 + 240.0 + 800.0,  # 100..700, 760..1000, 2800..3600
        "waiting": 100.0,  # from the window's start to the first change
        "asking": 60.0,
        "limited": 1800.0,
        "retrying": 0.0,
    }
    # a run's end closes its activity; the new run counts from its first reading
    assert spent["helper"] == {"working": 200.0, "waiting": 3000.0, "asking": 0.0, "limited": 0.0, "retrying": 300.0}
    assert "plain" not in spent  # a generic agent: no reading, no times


def test_report_has_the_activity_times_in_text_and_json() -> None:
    r = report.build("night", T0, T0 + 3600, EVENTS, [], agent_names=["coder", "helper", "plain"])
    data = json.loads(json.dumps(r.as_json()))
    by = {a["name"]: a for a in data["agents"]}
    assert by["coder"]["activity_s"]["limited"] == 1800.0 and by["plain"]["activity_s"] == {}
    text = render_text(r)
    assert "coder activity: working 27m" in text, text
    assert "limited 30m" in text and "plain activity" not in text
