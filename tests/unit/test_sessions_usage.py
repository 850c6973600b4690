"""Tokens and cost from recorded transcripts and output (tests/fixtures/transcripts, recorded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetctl.errors import ConfigError
from fleetctl.kinds import builtin_kinds, load_kinds
from fleetctl.sessions import usage

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_claude_transcript_usage_per_message() -> None:
    text = (FIXTURES / "transcripts" / "claude" / "c533830f-2bd8-4d70-a71b-da8c3e3c4eed.jsonl").read_text()
    found = usage.claude_entries(text)
    assert [(e.input, e.output) for e in found] == [(40, 6), (70, 8)]  # what the mock reported
    assert all(e.model == "claude-opus-4-8" and e.time for e in found)
    kind = builtin_kinds()["claude"]
    total = usage.total(kind, found)
    assert (total.input, total.output, total.messages) == (110, 14, 2)
    assert total.cost is None  # no price for the mock's model name
    assert usage.unpriced(kind, found) == ["claude-opus-4-8"]


def test_a_price_table_in_the_fleet_file_prices_a_model() -> None:
    kinds = load_kinds({"claude": {"prices": {"claude-opus-4-8": {"input": 5.0, "output": 25.0}}}})
    text = (FIXTURES / "transcripts" / "claude" / "c533830f-2bd8-4d70-a71b-da8c3e3c4eed.jsonl").read_text()
    total = usage.total(kinds["claude"], usage.claude_entries(text))
    assert total.cost == pytest.approx((110 * 5.0 + 14 * 25.0) / 1e6)


def test_a_message_split_over_lines_counts_once() -> None:
    message = '{"id":"m1","model":"x","usage":{"input_tokens":3,"output_tokens":2}}'
    line = '{"type":"assistant","timestamp":"2026-12-05T23:31:31Z","message":' + message + "}"
    assert len(usage.claude_entries(line + "\n" + line + "\n{not json")) == 1


def test_codex_rollout_usage_per_turn() -> None:
    [path] = (FIXTURES / "transcripts" / "codex").glob("rollout-*.jsonl")
    [entry] = usage.codex_entries(path.read_text())
    assert (entry.input, entry.output, entry.cache_read) == (50, 7, 0)


def test_aider_prints_its_tokens_and_cost() -> None:
    text = (FIXTURES / "recorded" / "aider" / "headless-answer.txt").read_text()
    [entry] = usage.aider_entries(text, 100.0)
    assert (entry.input, entry.output, entry.cost, entry.time) == (852, 10, 0.00013, 100.0)
    [big] = usage.aider_entries("Tokens: 2.3k sent, 1.1k cache hit, 120 received. Cost: $0.01 message, $0.03 session.")
    assert (big.input, big.cache_read, big.output) == (2300, 1100, 120)
    assert usage.total(builtin_kinds()["aider"], [entry, big]).cost == pytest.approx(0.01013)


def test_an_unknown_usage_reader_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match='one of "claude-transcript"'):
        load_kinds({"mine": {"session": {"usage": "tea-leaves"}}})
