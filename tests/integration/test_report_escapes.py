"""`report` shows control characters in recorded text escaped, and `report --json` keeps them exact.

A task title or a failure reason reaches the report through the events and the agents' rows
(an alert quoting a task, a crash's reason, a kill's why, a failed agent's reason), so those are
recorded in the fleet's real store here and the report is read through the CLI.
"""

from __future__ import annotations

import json
import time

from fleetctl.model import Event
from tests.conftest import FleetHarness

ESC = "\x1b[2J\x1b]0;pwned\x07"
SHOWN = "\\x1b[2J\\x1b]0;pwned\\x07"


def test_report_text_escapes_recorded_text_and_json_keeps_it(fleet_dir: FleetHarness) -> None:
    fleet_dir.write('[agents.a]\ncommand = "sleep 30"\n')
    store = fleet_dir.fleet().store
    now = time.time()
    title = f"deploy {ESC}now"
    store.add_event(Event(time=now - 30, kind="exited", agent="a", reason=f"gave up on {title}", data={"exit_code": 3}))
    store.add_event(Event(time=now - 20, kind="killed", agent="a", reason="stopped", data={"by": "you", "why": ESC}))
    store.add_event(Event(time=now - 10, kind="alert", agent="a", reason=f"needs-human: task 1: {title}"))
    assert store.fail_agent("a", f"last: {title}")
    store.close()

    text = fleet_dir.run("report")
    assert text.code == 0, text
    assert "\x1b" not in text.out and "\x07" not in text.out, text.out
    lines = text.out.splitlines()
    assert any(line.endswith(f"code 3  gave up on deploy {SHOWN}now") for line in lines), text.out
    assert any(line.endswith(f"by you ({SHOWN})  stopped") for line in lines), text.out
    assert any(line.endswith(f"needs-human: task 1: deploy {SHOWN}now") for line in lines), text.out
    assert f"  a: last: deploy {SHOWN}now" in lines, text.out

    report = json.loads(fleet_dir.run("report", "--json").out)
    assert report["crashes"][0]["detail"] == f"gave up on {title}"
    assert report["kills"][0]["why"] == ESC
    assert report["open_alerts"][0]["detail"] == f"needs-human: task 1: {title}"
    assert report["failed_agents"] == {"a": f"last: {title}"}
