"""screentext for `logs`: colours kept on request, marked CSI sequences (modifyOtherKeys, kitty
keyboard) dropped whole, and a follower printing each settled line once."""

from __future__ import annotations

from fleetctl.screentext import ScreenText, render


def test_marked_csi_sequences_change_nothing_even_split_across_chunks() -> None:
    text = ScreenText()
    for chunk in (b"\x1b[>4;", b"2mplain \x1b[3", b"1mred\x1b[0m \x1b[<", b"u\x1b[>1uok\r\n"):
        text.feed(chunk)
    assert text.lines() == ["plain red ok"]
    coloured = ScreenText(color=True)
    coloured.feed(b"\x1b[>4;2mplain \x1b[31mred\x1b[0m\r\n")
    assert coloured.lines() == ["plain \x1b[0;31mred\x1b[0m"]  # no underline or dim from `CSI > 4;2 m`


def test_colour_attributes_and_truecolour_come_back_as_sgr() -> None:
    lines = render(b"\x1b[1;4mbold\x1b[0m \x1b[38;2;1;2;3mrgb\x1b[0m \x1b[44mbg\x1b[0m\r\n", color=True)
    assert lines == ["\x1b[0;1;4mbold\x1b[0m \x1b[0;38;2;1;2;3mrgb\x1b[0m \x1b[0;44mbg\x1b[0m"]
    assert render(b"\x1b[1;4mbold\x1b[0m\r\n") == ["bold"]


def test_a_follower_gets_each_settled_line_once() -> None:
    text = ScreenText(rows=3)
    text.feed(b"one\r\ntwo\r\nspin |\rspin /")
    shown, done = text.settled(0)
    assert shown == ["one", "two"] and done == 2  # the line being drawn is not settled yet
    text.feed(b"\rspin done\r\nfour\r\nfive\r\n")
    shown, done = text.settled(done)
    assert shown == ["spin done", "four", "five"] and done == 5  # scrolled off or above the cursor
    assert text.settled(done) == ([], 5)
