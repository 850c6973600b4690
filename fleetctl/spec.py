"""fleet.toml -> a validated, frozen FleetSpec. Every config check lives here.

Errors name the file, the key (and its line when it can be found) and what was
expected, so a person can fix the file without reading code.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fleetctl import hosting
from fleetctl.errors import ConfigError
from fleetctl.model import AgentSpec, FleetSpec, PoolSpec
from fleetctl.spec_keys import (
    AGENT_FIELDS,
    AGENT_NAME_RE,
    DEFAULT_AUTH_PATTERNS,
    DEFAULT_DOCTOR_PATTERNS,
    DEFAULT_RATE_LIMIT_PATTERNS,
    ENV_KEY_RE,
    FLEET_FIELDS,
    NOT_DEFAULTABLE,
    POOL_FIELDS,
    Parser,
    show,
)

CONFIG_NAME = "fleet.toml"


class _Ctx:
    """Where we are in the file, so every error can say it."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def fail(self, table: str, key: str | None, expected: str) -> ConfigError:
        dotted = f"{table}.{key}" if key else table
        return ConfigError(_display(self.path), dotted, expected, self._line_of(table, key))

    def _line_of(self, table: str, key: str | None) -> int | None:
        header = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(map(_quoted_or_bare, table.split("."))) + r"\s*\]")
        start = None
        for i, line in enumerate(self.lines):
            if header.match(line):
                start = i
                break
        if start is None:
            return None
        if key is None:
            return start + 1
        key_re = re.compile(r"^\s*" + _quoted_or_bare(key) + r"\s*=")
        for i in range(start + 1, len(self.lines)):
            if self.lines[i].lstrip().startswith("["):
                break
            if key_re.match(self.lines[i]):
                return i + 1
        return start + 1


def _quoted_or_bare(part: str) -> str:
    escaped = re.escape(part)
    return rf"(?:{escaped}|\"{escaped}\"|'{escaped}')"


def _display(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home) :] if home != "/" and text.startswith(home + "/") else text


# --- discovery and loading -------------------------------------------------------


def find_config(explicit: str | None, environ: Mapping[str, str], cwd: Path) -> Path:
    """-c/--config, else $FLEETCTL_CONFIG, else ./fleet.toml searched upward."""
    from fleetctl.errors import UsageError

    chosen = explicit or environ.get("FLEETCTL_CONFIG")
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_absolute():
            path = cwd / path
        if not path.is_file():
            source = "--config" if explicit else "$FLEETCTL_CONFIG"
            raise UsageError(f"{_display(path)}: no such fleet file (from {source})")
        return path.resolve()
    for directory in (cwd, *cwd.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate.resolve()
    raise UsageError(
        f"no {CONFIG_NAME} in {_display(cwd)} or any parent directory",
        hint="pass -c PATH, set FLEETCTL_CONFIG, or run `fleetctl init` to write one",
    )


def load(path: Path, environ: Mapping[str, str] | None = None) -> FleetSpec:
    """The fleet file as this host runs it: store and host resolved (fleetctl.hosting)."""
    return hosting.resolve(_load(path), os.environ if environ is None else environ)


def _load(path: Path) -> FleetSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(_display(path), None, f"cannot read the fleet file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(_display(path), None, "expected a UTF-8 text file") from None
    return parse(text, path)


def parse(text: str, path: Path) -> FleetSpec:
    ctx = _Ctx(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        line = int(m.group(1)) if m else None
        raise ConfigError(_display(path), None, f"invalid TOML: {msg}", line) from None

    unknown = set(data) - {"fleet", "defaults", "agents", "pools", "kinds"}
    if unknown:
        key = sorted(unknown)[0]
        close = _close(key, ["fleet", "defaults", "agents", "pools", "kinds"], n=1)
        hint = f"did you mean [{close[0]}]? " if close else ""
        expected = "expected [fleet], [defaults], [agents.NAME], [pools.NAME] or [kinds.NAME]"
        raise ctx.fail(key, None, f"unknown section; {hint}{expected}")
    base_dir = path.parent.resolve()
    fleet_table = _table(ctx, data, "fleet", required=True)
    fleet = _fields(ctx, "fleet", fleet_table, FLEET_FIELDS)
    if "name" not in fleet:
        raise ctx.fail("fleet", "name", "required: a fleet name matching [A-Za-z0-9][A-Za-z0-9_-]{0,31}")

    defaults_table = _table(ctx, data, "defaults", required=False)
    for key in defaults_table:
        if key in NOT_DEFAULTABLE:
            raise ctx.fail("defaults", key, f"{key} cannot have a default; set it per agent")
    defaults = _fields(ctx, "defaults", defaults_table, AGENT_FIELDS)

    agents = _agents(ctx, _table(ctx, data, "agents", required=False), defaults, base_dir)
    pools = _pools(ctx, _table(ctx, data, "pools", required=False), base_dir, {a.name for a in agents})
    kinds = _kinds(ctx, data, agents, pools)
    state_dir = Path(fleet.get("state_dir", ".fleet")).expanduser()
    return FleetSpec(
        name=fleet["name"],
        path=path.resolve(),
        state_dir=state_dir if state_dir.is_absolute() else base_dir / state_dir,
        agents=agents,
        pools=pools,
        on_alert=fleet.get("on_alert"),
        supervisor=fleet.get("supervisor", True),
        max_actions_per_tick=fleet.get("max_actions_per_tick", 50),
        kinds=kinds,
        store=fleet.get("store"),
        host=fleet.get("host", ""),
        heartbeat=fleet.get("heartbeat", 10.0),
        prune_every=fleet.get("prune_every", 300.0),
    )


def _kinds(
    ctx: _Ctx, data: dict[str, Any], agents: tuple[AgentSpec, ...], pools: tuple[PoolSpec, ...]
) -> dict[str, object]:
    """Check [kinds.NAME] tables (compiled only when there are any) and that every kind named exists."""
    tables = _table(ctx, data, "kinds", required=False)
    if not tables and all(a.kind == "generic" for a in agents) and all(p.kind == "generic" for p in pools):
        return {}  # the common fleet: no kind knowledge to load (keeps `status` light)
    from fleetctl.kinds.load import BUILTIN

    if tables:
        from fleetctl.kinds import load_kinds

        load_kinds(tables, path=_display(ctx.path))
    known = (*BUILTIN, *(name for name in tables if name not in BUILTIN))
    for where, name in [*((f"agents.{a.base}", a.kind) for a in agents), *((f"pools.{p.name}", p.kind) for p in pools)]:
        if name not in known:
            raise ctx.fail(where, "kind", f"no kind named {name!r}; expected one of: {', '.join(known)}")
    return dict(tables)


def _table(ctx: _Ctx, data: dict[str, Any], key: str, *, required: bool) -> dict[str, Any]:
    if key not in data:
        if required:
            raise ctx.fail(key, None, f"missing [{key}] table")
        return {}
    value = data[key]
    if not isinstance(value, dict):
        raise ctx.fail(key, None, f"expected a table [{key}], got {show(value)}")
    return value


def _close(word: str, choices: list[str], n: int = 1) -> list[str]:
    """Did you mean …? Only on the way to an error, so `difflib` is imported only then."""
    import difflib

    return difflib.get_close_matches(word, choices, n=n)


def _fields(ctx: _Ctx, table: str, raw: dict[str, Any], fields: dict[str, tuple[Parser, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            close = _close(key, list(fields), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ctx.fail(table, key, f"unknown key; {hint}expected one of: {known}")
        parser, expected = fields[key]
        try:
            out[key] = parser(value)
        except (ValueError, TypeError, AssertionError, re.error):
            raise ctx.fail(table, key, f"expected {expected}, got {show(value)}") from None
    if "env" in out:
        out["env"] = _env(ctx, table, raw["env"])
    return out


def _env(ctx: _Ctx, table: str, env: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for key, value in env.items():
        if not ENV_KEY_RE.match(key):
            raise ctx.fail(table, f"env.{key}", "expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
        if key.startswith("FLEET_"):
            raise ctx.fail(table, f"env.{key}", "FLEET_* variables are set by fleetctl itself")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ctx.fail(table, f"env.{key}", f"expected a string value, got {show(value)}")
        pairs.append((key, str(value)))
    return tuple(pairs)


def _agents(ctx: _Ctx, table: dict[str, Any], defaults: dict[str, Any], base_dir: Path) -> tuple[AgentSpec, ...]:
    expanded: list[AgentSpec] = []
    owner: dict[str, str] = {}
    ports: dict[int, str] = {}
    # Resolving a path walks the disk (~35 us); most agents share a cwd: 3.4 ms of a 100-agent status.
    resolved: dict[str, Path] = {}
    for base, raw in table.items():
        where = f"agents.{base}"
        if not AGENT_NAME_RE.match(base):
            raise ctx.fail(where, None, "bad agent name; expected [A-Za-z0-9][A-Za-z0-9_-]{0,47}")
        if not isinstance(raw, dict):
            raise ctx.fail(where, None, f"expected a table [agents.{base}], got {show(raw)}")
        own = _fields(ctx, where, raw, AGENT_FIELDS)
        if "command" not in own:
            raise ctx.fail(where, "command", "required: the command to run (by /bin/sh -c)")
        merged = {**defaults, **own}
        if "env" in defaults and "env" in own:
            merged["env"] = tuple({**dict(defaults["env"]), **dict(own["env"])}.items())
        replicas = merged.pop("replicas", 1)
        port = merged.pop("port", None)
        cwd = merged.get("cwd", ".")
        if cwd not in resolved:
            resolved[cwd] = _resolve(base_dir, cwd)
        merged["cwd"] = resolved[cwd]
        if "heartbeat_file" in merged:
            merged["heartbeat_file"] = _resolve(base_dir, merged["heartbeat_file"])
        if port is not None and port + replicas - 1 > 65535:
            raise ctx.fail(where, "replicas", f"ports {port}..{port + replicas - 1} run past 65535")
        for i in range(1, replicas + 1):
            name = base if replicas == 1 else f"{base}-{i}"
            if len(name) > 48:
                raise ctx.fail(where, "replicas", f"replica name {name} is longer than 48 characters")
            if name in owner:
                raise ctx.fail(
                    where,
                    "replicas" if replicas > 1 else None,
                    f"agent name {name} collides with an agent of [agents.{owner[name]}]",
                )
            owner[name] = base
            agent_port = None if port is None else port + i - 1
            if agent_port is not None:
                if agent_port in ports:
                    raise ctx.fail(where, "port", f"port {agent_port} is already used by agent {ports[agent_port]}")
                ports[agent_port] = name
            expanded.append(_agent(merged, name, base, i if replicas > 1 else None, agent_port))
    return tuple(expanded)


def substitute(command: str, values: Mapping[str, object]) -> str:
    """Replace only the documented {placeholders}; other braces (awk, shell) stay."""
    for key, value in values.items():
        command = command.replace("{" + key + "}", "" if value is None else str(value))
    return command


def _agent(merged: dict[str, Any], name: str, base: str, replica: int | None, port: int | None) -> AgentSpec:
    patterns = merged.get("failure_patterns", {})
    values: dict[str, Any] = {k: v for k, v in merged.items() if k != "failure_patterns"}
    subs = {"port": port, "name": name, "replica": replica if replica is not None else 1}
    values["command"] = substitute(merged["command"], subs)
    if "fallback" in merged:
        values["fallback"] = substitute(merged["fallback"], subs)
    if "health" in merged:
        values["health"] = substitute(merged["health"], subs)
    values["rate_limit_patterns"] = DEFAULT_RATE_LIMIT_PATTERNS + patterns.get("rate_limit", ())
    values["auth_patterns"] = DEFAULT_AUTH_PATTERNS + patterns.get("auth", ())
    values["doctor_patterns"] = merged.get("doctor_patterns", DEFAULT_DOCTOR_PATTERNS)
    return AgentSpec(name=name, base=base, replica=replica, port=port, **values)


def _pools(ctx: _Ctx, table: dict[str, Any], base_dir: Path, agent_names: set[str]) -> tuple[PoolSpec, ...]:
    pools = []
    for name, raw in table.items():
        where = f"pools.{name}"
        if not AGENT_NAME_RE.match(name):
            raise ctx.fail(where, None, "bad pool name; expected [A-Za-z0-9][A-Za-z0-9_-]{0,47}")
        if name in agent_names:
            raise ctx.fail(where, None, f"pool name {name} collides with an agent of the same name")
        if not isinstance(raw, dict):
            raise ctx.fail(where, None, f"expected a table [pools.{name}], got {show(raw)}")
        values = _fields(ctx, where, raw, POOL_FIELDS)
        if "command" not in values:
            raise ctx.fail(where, "command", "required: the command to run for each task")
        values["repo"] = _resolve(base_dir, values.get("repo", "."))
        values["cwd"] = _resolve(base_dir, values.get("cwd", "."))
        for listed in ("labels", "hosts"):
            if listed in values:
                values[listed] = tuple(values[listed])
        on_done = values.get("on_done", "keep")
        if on_done != "keep" and values.get("workspace") != "worktree":
            raise ctx.fail(where, "on_done", f'"{on_done}" needs workspace = "worktree" (a branch per task)')
        if on_done == "pr" and "pr_command" not in values:
            raise ctx.fail(where, "pr_command", 'required with on_done = "pr": the command that opens a pull request')
        pools.append(PoolSpec(name=name, **values))
    return tuple(pools)


def _resolve(base_dir: Path, value: str) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else (base_dir / path).resolve()
