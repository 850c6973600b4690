"""Fitting a table to the terminal: the free-text last column gives way first, then the widest
of the others, never a column below its header, and a cut is shown by `…`."""

from __future__ import annotations

import pytest

from fleetctl.cli.render import fit_widths, table, terminal_width, truncate


def test_truncate_marks_the_cut() -> None:
    assert truncate("abcdef", 6) == "abcdef"
    assert truncate("abcdefg", 6) == "abcde…"
    assert truncate("abc", 1) == "…"


def test_the_last_column_gives_way_first() -> None:
    assert fit_widths([4, 7, 50], [4, 5, 6], 40) == [4, 7, 25]
    assert fit_widths([4, 7, 50], [4, 5, 6], 100) == [4, 7, 50]


def test_then_the_widest_other_column_and_never_below_a_header() -> None:
    assert fit_widths([20, 7, 50], [4, 5, 6], 30) == [13, 7, 6]
    assert fit_widths([20, 7, 50], [4, 5, 6], 5) == [4, 5, 6]  # narrower than the headers: all kept


def test_a_fitted_table_keeps_every_header_and_cuts_with_an_ellipsis() -> None:
    rows = [["web", "running", "fine"], ["db", "failed", "exited with code 3 after 0.2s, before it was verified"]]
    text = table(["NAME", "STATE", "REASON"], rows, width=30)
    assert text.splitlines() == [
        "NAME  STATE    REASON",
        "web   running  fine",
        "db    failed   exited with co…",
    ]
    assert all(len(line) <= 30 for line in text.splitlines())


def test_kept_columns_give_way_last() -> None:
    rows = [["a-long-agent-name", "running", "12345", "killed (restart)", "x" * 40]]
    headers = ["NAME", "STATE", "PID", "LAST EXIT", "REASON"]
    lines = table(headers, rows, width=52, keep=("NAME", "STATE", "PID")).splitlines()
    assert lines[1].startswith("a-long-agent-name  running  12345  killed (…")
    assert all(len(line) <= 52 for line in lines)


def test_width_comes_from_columns_and_a_pipe_gets_whole_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "77")
    assert terminal_width() == 77
    monkeypatch.delenv("COLUMNS")
    assert terminal_width() is None  # pytest captures stdout: not a terminal
