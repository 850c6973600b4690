"""The fleet file's parse cache: same data as tomllib, keyed by content, never in the way."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from fleetctl import tomlcache
from fleetctl.model import digest

TEXT = '[fleet]\nname = "c"\n\n[agents.a]\ncommand = "sleep 1"\nport = 8001\nmin_uptime = 1.5\nenv = { A = "b" }\n'


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "fleetctl" / "toml"


@pytest.mark.timeout(10)
def test_the_second_load_reads_the_entry_the_first_wrote(cache_home: Path) -> None:
    assert tomlcache.loads(TEXT) == tomllib.loads(TEXT)
    entry = cache_home / f"{digest(TEXT)}.json"
    assert json.loads(entry.read_text()) == tomllib.loads(TEXT)
    assert oct(cache_home.stat().st_mode & 0o777) == "0o700"
    entry.write_text(json.dumps({"fleet": {"name": "from-the-cache"}}))
    assert tomlcache.loads(TEXT) == {"fleet": {"name": "from-the-cache"}}


@pytest.mark.timeout(10)
def test_an_edited_file_is_parsed_afresh(cache_home: Path) -> None:
    tomlcache.loads(TEXT)
    edited = TEXT.replace("8001", "8002")
    assert tomlcache.loads(edited)["agents"]["a"]["port"] == 8002
    assert len(list(cache_home.iterdir())) == 2


@pytest.mark.timeout(10)
@pytest.mark.parametrize("garbage", ["{not json", "[1, 2]", ""])
def test_a_corrupt_entry_is_parsed_again_and_replaced(cache_home: Path, garbage: str) -> None:
    tomlcache.loads(TEXT)
    entry = cache_home / f"{digest(TEXT)}.json"
    entry.write_text(garbage)
    assert tomlcache.loads(TEXT) == tomllib.loads(TEXT)
    assert json.loads(entry.read_text()) == tomllib.loads(TEXT)


@pytest.mark.timeout(10)
def test_an_unwritable_cache_costs_only_speed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert tomlcache.loads(TEXT) == tomllib.loads(TEXT)


@pytest.mark.timeout(10)
def test_values_without_a_json_form_and_bad_toml_leave_no_entry(cache_home: Path) -> None:
    dated = "when = 2026-01-01T22:00:00\n"
    assert tomlcache.loads(dated) == tomllib.loads(dated)
    with pytest.raises(ValueError, match="line 1"):
        tomlcache.loads("[fleet\n")
    assert not cache_home.exists() or not list(cache_home.iterdir())


@pytest.mark.timeout(20)
def test_old_entries_are_pruned(cache_home: Path) -> None:
    for i in range(tomlcache.KEEP_ENTRIES + 5):
        tomlcache.loads(f"n = {i}\n")
    entries = list(cache_home.iterdir())
    assert len(entries) == tomlcache.KEEP_ENTRIES
    assert f"{digest(f'n = {tomlcache.KEEP_ENTRIES + 4}' + chr(10))}.json" in {p.name for p in entries}


@pytest.mark.timeout(10)
def test_a_cached_fleet_file_is_still_validated(tmp_path: Path, cache_home: Path) -> None:
    from fleetctl import spec
    from fleetctl.errors import ConfigError

    path = tmp_path / "fleet.toml"
    path.write_text(TEXT.replace("port = 8001", "port = 99999"))
    errors = []
    for _ in range(2):  # the second load reads the cache
        with pytest.raises(ConfigError) as caught:
            spec.load(path)
        errors.append(caught.value.message)
    assert len(list(cache_home.iterdir())) == 1
    assert errors[0] == errors[1] and "port" in errors[0]
