"""Built-in kinds load; fleet.toml's [kinds.NAME] amends or adds kinds; mistakes are one clear ConfigError."""

from __future__ import annotations

import re
from typing import Any

import pytest

from fleetctl.errors import ConfigError
from fleetctl.kinds import BUILTIN, Activity, describe_kinds, load_kinds
from fleetctl.kinds.model import Outcome


def test_builtin_kinds_load_with_compiled_patterns() -> None:
    kinds = load_kinds()
    assert sorted(kinds) == sorted(BUILTIN)
    claude = kinds["claude"]
    asking = claude.patterns(Activity.ASKING)
    assert asking is not None and all(isinstance(p, re.Pattern) for p in asking.screen)
    assert claude.keys.submit == ("Enter",) and claude.keys.continue_text == "continue"
    assert claude.session.resume_args == ("--resume", "{session}")
    price = claude.price("claude-sonnet-4-5")
    assert price is not None and (price.input, price.output) == (3.0, 15.0)
    assert kinds["generic"].generic and not claude.generic
    assert {f.outcome for f in kinds["aider"].failures} == {Outcome.RATE_LIMITED, Outcome.AUTH, Outcome.CONTEXT_FULL}


def test_builtin_patterns_are_compiled_once() -> None:
    first, second = load_kinds(), load_kinds({})
    assert first["codex"] is second["codex"]


def test_an_amendment_adds_patterns_and_replaces_values() -> None:
    kinds = load_kinds(
        {"claude": {"activity": {"waiting": {"screen": ["^READY$"]}}, "keys": {"continue_text": "go on"}}}
    )
    claude = kinds["claude"]
    waiting = claude.patterns(Activity.WAITING)
    assert waiting is not None
    assert [p.pattern for p in waiting.screen][-1] == "^READY$"
    assert len(waiting.screen) == len(load_kinds()["claude"].patterns(Activity.WAITING).screen) + 1  # type: ignore[union-attr]
    assert claude.keys.continue_text == "go on" and claude.keys.submit == ("Enter",)
    assert claude.origin == "built-in + fleet.toml"
    assert load_kinds()["claude"].keys.continue_text == "continue"  # the built-in is untouched


def test_a_new_kind_from_scratch_and_from_a_base() -> None:
    kinds = load_kinds(
        {
            "mybot": {
                "description": "an in-house agent",
                "activity": {"context_full": {"screen": ["context is full"]}, "waiting": {"screen": ["^bot> $"]}},
                "keys": {"submit": "Enter", "interrupt": ["C-c"]},
            },
            "claude-opus": {"base": "claude", "keys": {"continue_text": "please continue"}},
        }
    )
    mybot = kinds["mybot"]
    assert mybot.origin == "fleet.toml" and mybot.keys.submit == ("Enter",)
    assert mybot.patterns(Activity.CONTEXT_FULL) is not None
    opus = kinds["claude-opus"]
    assert opus.origin == "fleet.toml, based on claude"
    assert opus.keys.continue_text == "please continue"
    assert opus.patterns(Activity.RETRYING) == kinds["claude"].patterns(Activity.RETRYING)


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ([1], "fleet.toml: kinds: expected a table of [kinds.NAME] tables, got a list"),
        ({"bad name": {}}, "fleet.toml: kinds.bad name: bad kind name; expected [A-Za-z0-9][A-Za-z0-9_-]{0,47}"),
        ({"x": 3}, "fleet.toml: kinds.x: expected a table [kinds.x], got 3"),
        ({"x": {"colour": "red"}}, "fleet.toml: kinds.x.colour: unknown key; expected one of: description, base,"),
        ({"x": {"tail": 0}}, "fleet.toml: kinds.x.tail: expected an integer from 1 to 1000, got 0"),
        ({"x": {"base": "nope"}}, "fleet.toml: kinds.x.base: no kind named 'nope'; expected one of: aider, claude,"),
        ({"x": {"activity": {"sleeping": {}}}}, "fleet.toml: kinds.x.activity.sleeping: unknown activity; expected"),
        (
            {"claude": {"activity": {"asking": {"screen": ["(unclosed"]}}}},
            "fleet.toml: kinds.claude.activity.asking.screen: bad regex '(unclosed': missing ), unterminated",
        ),
        (
            {"x": {"activity": {"asking": {"screen": "Proceed?"}}}},
            'kinds.x.activity.asking.screen: expected a list of regexes, got "Proceed?"',
        ),
        (
            {"x": {"activity": {"asking": {"lines": "3"}}}},
            'kinds.x.activity.asking.lines: expected an integer from 1 to 1000, got "3"',
        ),
        ({"x": {"activity": {"asking": {"colour": 1}}}}, "kinds.x.activity.asking.colour: unknown key; expected one"),
        ({"x": {"failures": {"timeout": ["x"]}}}, "kinds.x.failures.timeout: unknown failure group; expected one of"),
        ({"x": {"failures": {"auth": ["[z-a]"]}}}, "kinds.x.failures.auth: bad regex '[z-a]'"),
        ({"x": {"reset_patterns": ["again in \\d+"]}}, "kinds.x.reset_patterns: pattern 'again in \\\\d+' names no"),
        (
            {"x": {"keys": {"submit": 13}}},
            'kinds.x.keys.submit: expected a tmux key name or a list of them, e.g. ["Enter"], got 13',
        ),
        ({"x": {"keys": {"answer": "y"}}}, "kinds.x.keys.answer: unknown key; expected one of: submit, approve,"),
        (
            {"x": {"session": {"resume_args": "--resume"}}},
            'kinds.x.session.resume_args: expected a list of arguments, e.g. ["--resume", "{session}"], got "--resume"',
        ),
        ({"x": {"prices": {"m": {"input": 1.0}}}}, "kinds.x.prices.m.output: required: dollars per million tokens"),
        ({"x": {"prices": {"m": {"input": -1, "output": 1}}}}, "kinds.x.prices.m.input: expected a non-negative"),
    ],
)
def test_mistakes_name_the_kind_the_key_and_what_was_expected(tables: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_kinds(tables, path="fleet.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("fleet.toml: kinds")
    assert info.value.exit_code == 2


def test_describe_kinds_gives_one_row_per_kind() -> None:
    rows = describe_kinds(load_kinds({"mybot": {"description": "in-house"}}))
    assert [r.name for r in rows] == ["aider", "claude", "codex", "gemini", "generic", "mybot"]
    claude = rows[1]
    assert claude.activities == "working, waiting, asking, limited, retrying, auth, context-full"
    assert claude.keys == "submit Enter, approve 1, decline Escape, interrupt Escape, continue 'continue'"
    assert claude.resume == "--resume {session}"
    assert (rows[4].activities, rows[5].origin, rows[5].description) == ("-", "fleet.toml", "in-house")


def test_kind_files_ship_as_package_data() -> None:
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    with open(root / "pyproject.toml", "rb") as f:
        data = tomllib.load(f)
    assert "kinds/*.toml" in data["tool"]["setuptools"]["package-data"]["fleetctl"]
    assert {p.stem for p in (root / "fleetctl" / "kinds").glob("*.toml")} == set(BUILTIN)


def test_the_examples_in_docs_kinds_md_load() -> None:
    import tomllib
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "kinds.md").read_text(encoding="utf-8")
    kind_file, fleet_file = re.findall(r"```toml\n(.*?)```", text, re.S)
    kinds = load_kinds({"example": tomllib.loads(kind_file), **tomllib.loads(fleet_file)["kinds"]})
    assert kinds["example"].keys.continue_text == "continue"
    assert kinds["claude"].keys.continue_text == "please continue"
    assert kinds["claude-night"].origin == "fleet.toml, based on claude"
    assert kinds["mybot"].patterns(Activity.WAITING) is not None
