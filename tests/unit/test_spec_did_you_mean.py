"""A misspelt fleet.toml key or section names the one it probably meant, on the same one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetctl import spec
from fleetctl.errors import ConfigError

HEAD = '[fleet]\nname = "d"\n'


def error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        spec.load(path)
    assert info.value.exit_code == 2
    message = info.value.message
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("body", "where", "meant"),
    [
        ('[agents.a]\ncomand = "x"\n', "agents.a.comand", "did you mean command?"),
        ('[agents.a]\ncommand = "x"\nmax_respawn = 3\n', "agents.a.max_respawn", "did you mean max_respawns?"),
        ('[defaults]\nstart_timout = "5s"\n[agents.a]\ncommand = "x"\n', "defaults.start_timout", "start_timeout?"),
        ('[pools.p]\ncommand = "x"\nslot = 2\n', "pools.p.slot", "did you mean slots?"),
        ('[agent.a]\ncommand = "x"\n', "agent", "did you mean [agents]?"),
    ],
)
def test_a_close_misspelling_gets_a_suggestion(tmp_path: Path, body: str, where: str, meant: str) -> None:
    message = error(tmp_path, HEAD + body)
    assert where in message and meant in message, message


def test_no_suggestion_when_nothing_is_close(tmp_path: Path) -> None:
    message = error(tmp_path, HEAD + '[agents.a]\ncommand = "x"\nxyzzy = 1\n')
    assert "unknown key" in message and "did you mean" not in message
    assert "expected one of:" in message
