"""fleetctl.redact: which values are hidden, and how."""

from __future__ import annotations

from pathlib import Path

from fleetctl.model import AgentSpec, FleetSpec, PoolSpec
from fleetctl.redact import MASK, redact, redact_data, secret_values


def spec(agent_env: dict[str, str], pool_env: dict[str, str] | None = None) -> FleetSpec:
    agent = AgentSpec(name="a", command="true", env=tuple(agent_env.items()))
    pools = (PoolSpec(name="p", command="true", env=tuple((pool_env or {}).items())),)
    return FleetSpec(name="f", path=Path("/x/fleet.toml"), state_dir=Path("/x/.fleet"), agents=(agent,), pools=pools)


def test_the_values_of_secret_keys_are_hidden_and_no_others() -> None:
    values = secret_values(
        spec({"API_TOKEN": "tok-1234", "PLAIN": "visible-value"}, {"DB_PASSWORD": "pw-5678"}),
        environ={"ANTHROPIC_API_KEY": "sk-ant-9999", "HOME": "/home/me", "MY_SECRET": "abc"},
    )
    assert values == frozenset({"tok-1234", "pw-5678", "sk-ant-9999"})  # "abc": too short to hide
    line = "tok-1234 pw-5678 sk-ant-9999 visible-value /home/me"
    assert redact(line, values) == f"{MASK} {MASK} {MASK} visible-value /home/me"


def test_a_secret_that_contains_another_is_hidden_whole() -> None:
    values = frozenset({"abcd", "abcdefgh"})
    assert redact("x abcdefgh y abcd", values) == f"x {MASK} y {MASK}"


def test_event_data_is_redacted_at_any_depth() -> None:
    values = frozenset({"tok-1234"})
    data = {"output": ["failing with tok-1234"], "nested": {"why": "tok-1234!"}, "code": 1, "none": None}
    assert redact_data(data, values) == {
        "output": [f"failing with {MASK}"],
        "nested": {"why": f"{MASK}!"},
        "code": 1,
        "none": None,
    }
    assert redact_data(data, frozenset()) is data  # nothing to hide: nothing copied
