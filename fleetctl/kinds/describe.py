"""Kinds as rows for `fleetctl kinds`: one line each, plain text, no rendering."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fleetctl.kinds.model import PATTERN_ACTIVITIES, Kind, KindRow


def describe_kinds(kinds: Mapping[str, Kind] | Iterable[Kind]) -> list[KindRow]:
    """A row per kind, by name: the activities it can recognise, its keys and how it resumes."""
    items = list(kinds.values()) if isinstance(kinds, Mapping) else list(kinds)
    return [_row(kind) for kind in sorted(items, key=lambda k: k.name)]


def _row(kind: Kind) -> KindRow:
    known = {entry.activity for entry in kind.activities if entry.screen or entry.title}
    activities = ", ".join(a.value for a in PATTERN_ACTIVITIES if a in known) or "-"
    keys = kind.keys
    parts = [f"submit {' '.join(keys.submit)}"] if keys.submit else []
    if keys.approve:
        parts.append(f"approve {' '.join(keys.approve)}")
    if keys.decline:
        parts.append(f"decline {' '.join(keys.decline)}")
    if keys.interrupt:
        parts.append(f"interrupt {' '.join(keys.interrupt)}")
    if keys.continue_text:
        parts.append(f"continue {keys.continue_text!r}")
    return KindRow(
        name=kind.name,
        origin=kind.origin,
        activities=activities,
        keys=", ".join(parts) or "-",
        resume=" ".join(kind.session.resume_args) or "-",
        description=kind.description,
    )
