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


def test_the_store_password_is_a_secret_value_in_the_url_and_in_pgpassword() -> None:
    def values(store: str | None, environ: dict[str, str]) -> tuple[str, ...]:
        spec = FleetSpec(name="f", path=Path("/tmp/f.toml"), state_dir=Path("/tmp/.fleet"), store=store)
        return secret_values(spec, environ)

    assert values("postgresql://fleet:pa%40ss-1@127.0.0.1/fleet", {}) == ("pa%40ss-1", "pa@ss-1")
    assert values("postgresql://fleet@127.0.0.1/fleet?password=qwerty9", {}) == ("qwerty9",)
    assert values("postgresql://fleet@127.0.0.1/fleet", {"PGPASSWORD": "from-env-7"}) == ("from-env-7",)
    assert values("postgresql://fleet:abc@127.0.0.1/fleet", {}) == ()  # too short to mask (MIN_SECRET_LENGTH)
    assert values(None, {"PGPASSWORD": "from-env-7"}) == ()  # no shared store: not fleetctl's password
