"""Control characters in text that agents, tasks and messages bring are shown escaped in every table."""

from __future__ import annotations

from fleetctl.cli.render import event_json, event_line, printable, table
from fleetctl.model import Event


def test_printable_escapes_every_c0_del_and_c1_control() -> None:
    controls = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0)]))
    shown = printable(f"a{controls}b")
    assert shown == "a" + "".join(f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]) + "b"
    assert printable("plain text, ünïcode ✓ and \\x1b as typed") == "plain text, ünïcode ✓ and \\x1b as typed"


def test_printable_can_keep_tabs_and_newlines_for_a_body() -> None:
    assert printable("one\n\ttwo\x1b[2J\r\n", keep_layout=True) == "one\n\ttwo\\x1b[2J\\x0d\n"


def test_a_table_escapes_its_cells_and_keeps_its_columns() -> None:
    text = table(["NAME", "REASON"], [["a", "crashed: \x1b[31mred\x1b[0m"], ["b", None]])
    assert text.splitlines() == [
        "NAME  REASON",
        "a     crashed: \\x1b[31mred\\x1b[0m",
        "b     -",
    ]


def test_an_event_line_is_escaped_and_its_json_exact() -> None:
    event = Event(time=0.0, kind="task-added", agent=None, reason="title \x1b]0;x\x07", data={"task": 1})
    assert event_line(event).endswith("task-added     fleet            title \\x1b]0;x\\x07")
    assert '"reason": "title \\u001b]0;x\\u0007"' in event_json(event)
