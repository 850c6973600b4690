"""Every screen fixture is classified as its file name says; the evidence order holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fleetctl.kinds import Activity, Evidence, Observation, builtin_kinds, classify_screen, load_kinds

SCREENS = Path(__file__).resolve().parent.parent / "fixtures" / "screens"
NOW = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
FIXTURES = sorted(SCREENS.glob("*/*.txt"))


def _at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _classify(kind: str, screen: str, title: str = "", busy: bool = False) -> Observation:
    return classify_screen(builtin_kinds()[kind], screen, title, busy, now=NOW, local_tz=BERLIN)


def _screen(kind: str, name: str) -> str:
    return (SCREENS / kind / f"{name}.txt").read_text(encoding="utf-8")


def _fixture(path: Path) -> tuple[str, str]:
    """A fixture's screen and pane title. Recorded ones (tests/agents/record_screens.py) start with
    `# key: value` lines, among them the pane title, then `--- screen`."""
    text = path.read_text(encoding="utf-8")
    head, marker, screen = text.partition("--- screen\n")
    if not marker:
        return text, ""
    headers = dict(line[2:].partition(": ")[::2] for line in head.splitlines() if line.startswith("# "))
    return screen, headers.get("pane_title", "")


def test_every_kind_has_a_fixture_for_every_activity() -> None:
    for kind in ("claude", "codex", "gemini", "aider"):
        names = {path.name.split(".")[0] for path in (SCREENS / kind).glob("*.txt")}
        expected = {a.value for a in Activity} - {"unknown", "-"}
        assert names == expected, kind


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_is_classified_as_named(path: Path) -> None:
    screen, title = _fixture(path)
    observation = _classify(path.parent.name, screen, title)
    assert observation.activity.value == path.name.split(".")[0]
    assert observation.evidence in ((Evidence.SCREEN, Evidence.TITLE) if title else (Evidence.SCREEN,))
    # The screen alone says it too: a recorded title must not hide a screen pattern that broke.
    assert _classify(path.parent.name, screen).activity.value == path.name.split(".")[0]
    if observation.activity is Activity.LIMITED:
        assert observation.reset_at is not None and observation.reset_at > NOW.timestamp()
    if observation.activity is Activity.ASKING:
        assert observation.detail.endswith("?")


def test_real_screens_are_recorded_for_each_activity_of_claude_codex_and_aider() -> None:
    for kind in ("claude", "codex", "aider"):
        recorded = {path.name.split(".")[0] for path in (SCREENS / kind).glob("*.recorded.txt")}
        assert recorded >= {"working", "waiting", "asking", "limited", "retrying", "auth"}, kind


@pytest.mark.parametrize(
    ("kind", "name", "detail", "reset_at"),
    [
        ("claude", "asking", "Do you want to proceed?", None),
        ("claude", "asking.trust", "Do you trust the files in this folder?", None),
        ("claude", "retrying", "API error · Retrying in 19s · attempt 6/10", NOW.timestamp() + 19),
        ("claude", "limited", "5-hour limit reached ∙ resets 3pm", _at("2026-12-01T15:00+01:00")),
        ("claude", "limited.regain", "You will regain access on 2026-12-03 at 00:00 UTC.", _at("2026-12-03T00:00Z")),
        ("codex", "limited", None, _at("2026-12-01T20:18+01:00")),
        ("codex", "asking", "Trust this folder?", None),
        ("codex", "retrying", "Server is busy, reconnecting 3/5", None),
        ("aider", "asking", "Add .aider* to .gitignore (recommended)?", None),
        ("aider", "limited", None, NOW.timestamp() + 5),
        ("aider", "working", "Waiting for openai/gpt-4o-mini", None),
        ("gemini", "asking", "Allow execution of: 'npm'?", None),
        ("gemini", "limited", None, NOW.timestamp() + 2 * 3600 + 14 * 60 + 5),
    ],
)
def test_detail_and_reset_time(kind: str, name: str, detail: str | None, reset_at: float | None) -> None:
    observation = _classify(kind, _screen(kind, name))
    if detail is not None:
        assert observation.detail == detail
    assert observation.reset_at == reset_at


def test_codex_usage_limit_detail_is_the_limit_line_not_the_dialog() -> None:
    observation = _classify("codex", _screen("codex", "limited"))
    assert observation.detail.startswith("You’ve hit your usage limit")


def test_a_busy_process_tree_means_working_whatever_the_screen_says() -> None:
    observation = _classify("claude", _screen("claude", "asking"), busy=True)
    assert (observation.activity, observation.evidence) == (Activity.WORKING, Evidence.TREE)


def test_generic_agents_have_no_activity() -> None:
    assert _classify("generic", _screen("claude", "asking")).activity is Activity.NONE
    assert _classify("generic", "", busy=True).activity is Activity.NONE


def test_title_decides_between_working_and_waiting() -> None:
    waiting = _screen("claude", "waiting")
    working = _classify("claude", waiting, title="⠂ Write the parser tests")
    assert (working.activity, working.evidence) == (Activity.WORKING, Evidence.TITLE)
    idle = _classify("claude", _screen("claude", "working"), title="✳ Claude Code")
    assert (idle.activity, idle.evidence) == (Activity.WAITING, Evidence.TITLE)


def test_a_spinner_title_does_not_hide_a_retry_loop_or_a_question() -> None:
    for name, activity in (("retrying", Activity.RETRYING), ("asking", Activity.ASKING)):
        observation = _classify("claude", _screen("claude", name), title="⠐ Fix the failing test")
        assert observation.activity is activity


def test_work_below_an_old_limit_message_means_working() -> None:
    screen = _screen("claude", "limited").replace("❯ ", "> continue\n\n✻ Sautéing… (esc to interrupt)\n\n❯ ", 1)
    assert _classify("claude", screen).activity is Activity.WORKING


def test_a_limit_whose_reset_time_has_passed_is_stale() -> None:
    screen = _screen("claude", "limited.regain").replace("2026-12-03", "2026-11-30")
    assert _classify("claude", screen).activity is Activity.WAITING


def test_a_line_that_says_retry_and_esc_to_interrupt_is_a_retry() -> None:
    screen = _screen("claude", "retrying").replace("attempt 6/10", "attempt 6/10 (esc to interrupt)")
    assert _classify("claude", screen).activity is Activity.RETRYING


def test_an_answered_aider_question_is_not_asking() -> None:
    screen = _screen("aider", "asking").rstrip() + " y\n" + _screen("aider", "working")
    assert _classify("aider", screen).activity is Activity.WORKING


def test_only_the_tail_counts() -> None:
    kind = load_kinds({"claude": {"tail": 4}})["claude"]
    screen = "Do you want to proceed?\n" + "\n".join(f"line {i}" for i in range(10)) + "\n? for shortcuts\n"
    observation = classify_screen(kind, screen, "", False, now=NOW, local_tz=BERLIN)
    assert observation.activity is Activity.WAITING


def test_a_screen_that_matches_nothing_is_unknown() -> None:
    assert _classify("codex", "some text\nmore text\n").activity is Activity.UNKNOWN
    assert _classify("claude", "").activity is Activity.UNKNOWN


def test_user_patterns_amend_a_builtin_kind() -> None:
    kinds = load_kinds({"claude": {"activity": {"asking": {"screen": ["(?P<detail>Shall I deploy\\?)"]}}}})
    screen = "⏺ The build is green.\nShall I deploy?\n"
    observation = classify_screen(kinds["claude"], screen, "", False, now=NOW, local_tz=BERLIN)
    assert (observation.activity, observation.detail) == (Activity.ASKING, "Shall I deploy?")
    # the built-in patterns are still there
    observation = classify_screen(kinds["claude"], _screen("claude", "asking"), "", False, now=NOW, local_tz=BERLIN)
    assert observation.detail == "Do you want to proceed?"
