from __future__ import annotations

from pathlib import Path

from fleetctl.model import AgentSpec, FleetSpec, PoolSpec
from fleetctl.redact import redact, redact_data, secret_values


def test_secret_values_are_those_of_secret_keys_longest_first() -> None:
    spec = FleetSpec(
        name="f",
        path=Path("/tmp/f.toml"),
        state_dir=Path("/tmp/.fleet"),
        agents=(
            AgentSpec(name="a", command="x", env=(("API_TOKEN", "abcd1234"), ("MODE", "abcd1234-plain"))),
            AgentSpec(name="b", command="x", env=(("DB_PASSWORD", "abcd1234-long"), ("SECRET_FLAG", "1"))),
        ),
        pools=(PoolSpec(name="p", command="x", env=(("GH_KEY", "ghkey-999"),)),),
    )
    assert secret_values(spec) == ("abcd1234-long", "ghkey-999", "abcd1234")


def test_redact_masks_every_occurrence_and_nested_data() -> None:
    secrets = ("abcd1234-long", "abcd1234")
    assert redact("x abcd1234-long y abcd1234 z", secrets) == "x *** y *** z"
    data = {"output": ["token abcd1234"], "n": 3, "why": "abcd1234-long"}
    assert redact_data(data, secrets) == {"output": ["token ***"], "n": 3, "why": "***"}
    assert redact_data(data, ()) is data
