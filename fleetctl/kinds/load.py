"""Kind files -> validated Kind records: the built-in ones shipped in this package, amended or extended
by `[kinds.NAME]` tables of fleet.toml.

An amending table adds its patterns to the built-in lists and replaces the other values it sets; a new
kind starts empty, or from `base = "NAME"`. Errors name the file, the key and what was expected, as
spec.py's do, and nothing is loaded when one is found.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from fleetctl.errors import ConfigError
from fleetctl.kinds.model import (
    DEFAULT_CHECK_TIMEOUT,
    FAILURE_GROUPS,
    PATTERN_ACTIVITIES,
    Activity,
    ActivityPatterns,
    CheckCommand,
    FailurePatterns,
    Keys,
    Kind,
    Price,
    Session,
)

BUILTIN = ("claude", "codex", "gemini", "aider", "generic")
KIND_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")
_HERE = Path(__file__).resolve().parent
_TOP_KEYS = (
    "description",
    "base",
    "tail",
    "activity",
    "failures",
    "reset_patterns",
    "progress_ignore",
    "keys",
    "session",
    "prices",
    "check",
)
_ACTIVITY_KEYS = ("screen", "title", "lines")
_KEY_LISTS = ("submit", "approve", "decline", "interrupt")
_SESSION_LISTS = ("resume_args", "continue_args", "private", "shared_files", "own_env", "prompt_args")
_SESSION_TEXTS = (
    "transcript_dir",
    "transcript_glob",
    "config_dir",
    "config_dir_env",
    "id_pattern",
    "usage",
    "usage_command",
    "handoff",
)
_USAGE_READERS = ("claude-transcript", "codex-transcript", "aider-output", "command")
_PRICE_KEYS = ("input", "output", "cache_read", "cache_write")
_CHECK_KEYS = ("args", "timeout", "env")
_RESET_GROUPS = ("in", "at", "epoch")
_ACTIVITY_NAMES = {a.value.replace("-", "_"): a for a in PATTERN_ACTIVITIES}


def load_kinds(tables: object = None, *, path: object = "fleet.toml") -> dict[str, Kind]:
    """Every built-in kind, amended or extended by the `[kinds]` table of a fleet file (`path` names it in errors)."""
    kinds = dict(builtin_kinds())
    if tables is None:
        return kinds
    if not isinstance(tables, Mapping):
        raise ConfigError(path, "kinds", f"expected a table of [kinds.NAME] tables, got {_show(tables)}")
    raws = {name: _builtin_raw(name) for name in BUILTIN}
    for name, table in tables.items():
        where = f"kinds.{name}"
        if not KIND_NAME_RE.match(name):
            raise ConfigError(path, where, "bad kind name; expected [A-Za-z0-9][A-Za-z0-9_-]{0,47}")
        if not isinstance(table, Mapping):
            raise ConfigError(path, where, f"expected a table [kinds.{name}], got {_show(table)}")
        own = _check(table, where, path)
        base = own.pop("base", None)
        if base is not None and base not in raws:
            known = ", ".join(sorted(raws))
            raise ConfigError(path, f"{where}.base", f"no kind named {base!r}; expected one of: {known}")
        if base is not None:
            start, origin = raws[base], f"fleet.toml, based on {base}"
        elif name in BUILTIN:
            start, origin = raws[name], "built-in + fleet.toml"
        else:
            start, origin = {}, "fleet.toml"
        raws[name] = _merge(start, own)
        kinds[name] = _build(name, raws[name], origin)
    return kinds


@cache
def builtin_kinds() -> dict[str, Kind]:
    """The kinds shipped with fleetctl, read and compiled once per process."""
    return {name: _build(name, _builtin_raw(name), "built-in") for name in BUILTIN}


@cache
def _builtin_raw(name: str) -> dict[str, Any]:
    import tomllib

    file = _HERE / f"{name}.toml"
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(file, None, f"cannot read the built-in kind file ({exc})") from None
    return _check(data, f"kinds.{name}", file)


# --- validation: raw TOML table -> normalised dict (regexes checked, lists as lists) ------------

Fail = Callable[[str, str], ConfigError]


class _BadRegex(ValueError):
    """A value that is a list of strings, one of which does not compile: the error says which and why."""


def _value(fail: Fail, key: str, expected: str, parse: Callable[[Any], Any], value: object) -> Any:
    try:
        return parse(value)
    except _BadRegex as exc:
        raise fail(key, str(exc)) from None
    except ValueError:
        raise fail(key, f"expected {expected}, got {_show(value)}") from None


def _check(table: Mapping[str, Any], where: str, path: object) -> dict[str, Any]:
    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(path, f"{where}.{key}", message)

    out: dict[str, Any] = {}
    for key, value in table.items():
        if key in ("description", "base"):
            out[key] = _value(fail, key, "a string", _text, value)
        elif key == "tail":
            out[key] = _value(fail, key, "an integer from 1 to 1000", _count, value)
        elif key == "activity":
            out[key] = _check_activities(_value(fail, key, "a table of [activity.NAME] tables", _table, value), fail)
        elif key == "failures":
            groups = _value(fail, key, "a table of pattern lists", _table, value)
            for group, patterns in groups.items():
                if group not in FAILURE_GROUPS:
                    known = ", ".join(FAILURE_GROUPS)
                    raise fail(f"{key}.{group}", f"unknown failure group; expected one of: {known}")
                out.setdefault(key, {})[group] = _value(fail, f"{key}.{group}", "a list of regexes", _regexes, patterns)
        elif key == "reset_patterns":
            out[key] = _value(fail, key, "a list of regexes", _regexes, value)
            for pattern in out[key]:
                if not set(re.compile(pattern).groupindex) & set(_RESET_GROUPS):
                    expected = "expected (?P<in>…), (?P<at>…) or (?P<epoch>…)"
                    raise fail(key, f"pattern {pattern!r} names no group; {expected}")
        elif key == "progress_ignore":
            out[key] = _value(fail, key, "a list of regexes", _regexes, value)
        elif key == "keys":
            out[key] = _check_keys(_value(fail, key, "a table", _table, value), fail)
        elif key == "session":
            out[key] = _check_session(_value(fail, key, "a table", _table, value), fail)
        elif key == "prices":
            out[key] = _check_prices(_value(fail, key, 'a table of [prices."MODEL"] tables', _table, value), fail)
        elif key == "check":
            out[key] = _check_check(_value(fail, key, "a table with args, timeout or env", _table, value), fail)
        else:
            raise fail(key, f"unknown key; expected one of: {', '.join(_TOP_KEYS)}")
    return out


def _check_activities(table: Mapping[str, Any], fail: Fail) -> dict[str, Any]:
    out: dict[str, Any] = {}
    names = ", ".join(a.value for a in PATTERN_ACTIVITIES)
    for name, value in table.items():
        here = f"activity.{name}"
        activity = _ACTIVITY_NAMES.get(name.replace("-", "_"))
        if activity is None:
            raise fail(here, f"unknown activity; expected one of: {names}")
        entry = _value(fail, here, "a table with screen, title or lines", _table, value)
        checked: dict[str, Any] = {}
        for key, item in entry.items():
            if key == "lines":
                checked[key] = _value(fail, f"{here}.{key}", "an integer from 1 to 1000", _count, item)
            elif key in ("screen", "title"):
                checked[key] = _value(fail, f"{here}.{key}", "a list of regexes", _regexes, item)
            else:
                raise fail(f"{here}.{key}", f"unknown key; expected one of: {', '.join(_ACTIVITY_KEYS)}")
        out[activity.value] = checked
    return out


def _check_keys(table: Mapping[str, Any], fail: Fail) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        here = f"keys.{key}"
        if key in _KEY_LISTS:
            out[key] = _value(fail, here, 'a tmux key name or a list of them, e.g. ["Enter"]', _keys, value)
        elif key == "continue_text":
            out[key] = _value(fail, here, "a string", _any_text, value)
        else:
            raise fail(here, f"unknown key; expected one of: {', '.join((*_KEY_LISTS, 'continue_text'))}")
    return out


def _check_session(table: Mapping[str, Any], fail: Fail) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        here = f"session.{key}"
        if key in _SESSION_LISTS:
            out[key] = _value(fail, here, 'a list of arguments, e.g. ["--resume", "{session}"]', _texts, value)
        elif key == "id_pattern":
            out[key] = _value(fail, here, "a regex over a transcript's file name", _regexes, [value])[0]
        elif key == "context_limit":
            out[key] = _value(fail, here, "a positive number of tokens", _tokens, value)
        elif key == "usage":
            expected = 'one of "claude-transcript", "codex-transcript", "aider-output", "command"'
            out[key] = _value(fail, here, expected, lambda v: v if v in _USAGE_READERS else _no(), value)
        elif key in _SESSION_TEXTS:
            out[key] = _value(fail, here, "a string", _any_text, value)
        else:
            known = ", ".join((*_SESSION_LISTS, *_SESSION_TEXTS, "context_limit"))
            raise fail(here, f"unknown key; expected one of: {known}")
    return out


def _check_prices(table: Mapping[str, Any], fail: Fail) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model, value in table.items():
        here = f"prices.{model}"
        entry = _value(fail, here, "a table { input = …, output = … } in dollars per million tokens", _table, value)
        checked: dict[str, float] = {}
        for key, item in entry.items():
            if key not in _PRICE_KEYS:
                raise fail(f"{here}.{key}", f"unknown key; expected one of: {', '.join(_PRICE_KEYS)}")
            expected = "a non-negative number of dollars per million tokens"
            checked[key] = _value(fail, f"{here}.{key}", expected, _dollars, item)
        for key in ("input", "output"):
            if key not in checked:
                raise fail(f"{here}.{key}", "required: dollars per million tokens")
        out[model] = checked
    return out


def _check_check(table: Mapping[str, Any], fail: Fail) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        here = f"check.{key}"
        if key == "args":
            expected = 'a list of arguments appended to the agent\'s command, e.g. ["-p", "Say ok"] ([] for none)'
            out[key] = _value(fail, here, expected, _args, value)
        elif key == "timeout":
            out[key] = _value(fail, here, "a number of seconds from 1 to 3600", _seconds, value)
        elif key == "env":
            out[key] = _value(fail, here, 'a table of strings, e.g. { NAME = "value" }', _env, value)
        else:
            raise fail(here, f"unknown key; expected one of: {', '.join(_CHECK_KEYS)}")
    return out


def _args(value: object) -> list[str]:
    return [] if value == [] else _texts(value)


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 3600:
        raise ValueError
    return float(value)


def _env(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError
    return dict(value)


def _no() -> str:
    raise ValueError


def _table(value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError
    return value


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError
    return value


def _any_text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError
    return value


def _tokens(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError
    return value


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise ValueError
    return value


def _dollars(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError
    return float(value)


def _texts(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError
    return list(value)


def _keys(value: object) -> list[str]:
    return [value] if isinstance(value, str) and value else _texts(value)


def _regexes(value: object) -> list[str]:
    patterns = _texts(value)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _BadRegex(f"bad regex {pattern!r}: {exc}") from None
    return patterns


def _show(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value).lower() if isinstance(value, bool) else repr(value)


# --- merging and building --------------------------------------------------------------


def _merge(base: Mapping[str, Any], own: Mapping[str, Any], depth: tuple[str, ...] = ()) -> dict[str, Any]:
    """Tables merge key by key; pattern lists extend the base's; every other value replaces it."""
    out = dict(base)
    for key, value in own.items():
        path = (*depth, key)
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value, path)
        elif isinstance(value, list) and isinstance(out.get(key), list) and _is_pattern_list(path):
            out[key] = [*out[key], *(v for v in value if v not in out[key])]
        else:
            out[key] = value
    return out


def _is_pattern_list(path: tuple[str, ...]) -> bool:
    return path[0] in ("activity", "failures", "reset_patterns", "progress_ignore")


def _build(name: str, raw: Mapping[str, Any], origin: str) -> Kind:
    def compiled(patterns: list[str], flags: int = 0) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p, flags) for p in patterns)

    activities = tuple(
        ActivityPatterns(
            activity=Activity(value),
            screen=compiled(entry.get("screen", [])),
            title=compiled(entry.get("title", [])),
            lines=entry.get("lines"),
        )
        for value, entry in raw.get("activity", {}).items()
    )
    failures = tuple(
        FailurePatterns(group=g, patterns=compiled(p, re.IGNORECASE)) for g, p in raw.get("failures", {}).items()
    )
    keys: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.get("keys", {}).items()}
    session: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.get("session", {}).items()}
    prices = tuple(Price(model=model, **values) for model, values in raw.get("prices", {}).items())
    check_raw = raw.get("check", {})
    check = CheckCommand(
        args=tuple(check_raw.get("args", ())),
        timeout=check_raw.get("timeout", DEFAULT_CHECK_TIMEOUT),
        env=tuple(sorted(check_raw.get("env", {}).items())),
    )
    return Kind(
        name=name,
        description=raw.get("description", ""),
        origin=origin,
        tail=raw.get("tail", 40),
        activities=activities,
        failures=failures,
        reset_patterns=compiled(raw.get("reset_patterns", []), re.IGNORECASE),
        progress_ignore=compiled(raw.get("progress_ignore", [])),
        keys=Keys(**keys),
        session=Session(**session),
        prices=prices,
        check=check,
    )
