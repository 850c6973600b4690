"""Tokens and cost from what the clients record: Claude Code's transcripts carry usage per
message, Codex's rollouts a token count per turn, aider prints `Tokens: … Cost: $…` per message.

Parsing is pure (text in, entries out); the cost comes from the kind's price table (dollars per
million tokens), or from the client's own figure when it prints one (aider).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from fleetctl.kinds.model import Kind
from fleetctl.record import record

_AIDER = re.compile(
    r"Tokens: (?P<sent>[\d.]+[kKmM]?) sent"
    r"(?:, (?P<cw>[\d.]+[kKmM]?) cache write)?(?:, (?P<cr>[\d.]+[kKmM]?) cache hit)?,"
    r" (?P<received>[\d.]+[kKmM]?) received\.(?: Cost: \$(?P<cost>[\d.]+) message)?"
)


@record
class Entry:
    """One answer's token counts, when it was written (epoch seconds, None: unknown) and by which model."""

    time: float | None
    model: str = ""
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cost: float | None = None  # the client's own figure, when it prints one


@record
class Usage:
    """Tokens and dollars summed over answers; cost None when no price is known for a model used."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cost: float | None = 0.0
    messages: int = 0

    @property
    def tokens(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write

    def __add__(self, other: Usage) -> Usage:
        cost = None if self.cost is None or other.cost is None else self.cost + other.cost
        return Usage(
            input=self.input + other.input,
            output=self.output + other.output,
            cache_read=self.cache_read + other.cache_read,
            cache_write=self.cache_write + other.cache_write,
            cost=cost,
            messages=self.messages + other.messages,
        )

    def as_json(self) -> dict[str, object]:
        return {
            "input_tokens": self.input,
            "output_tokens": self.output,
            "cache_read_tokens": self.cache_read,
            "cache_write_tokens": self.cache_write,
            "tokens": self.tokens,
            "cost_usd": None if self.cost is None else round(self.cost, 6),
            "messages": self.messages,
        }


def _epoch(stamp: object) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _lines(text: str) -> Iterable[dict[str, object]]:
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue  # a line being written as we read
        if isinstance(item, dict):
            yield item


def _int(table: object, key: str) -> int:
    value = table.get(key) if isinstance(table, dict) else None
    return value if isinstance(value, int) else 0


def claude_entries(text: str) -> list[Entry]:
    """Usage of each assistant message of a Claude Code transcript (one per message id: a message
    split over several lines repeats its usage)."""
    found: dict[str, Entry] = {}
    for n, item in enumerate(_lines(text)):
        message = item.get("message")
        if item.get("type") != "assistant" or not isinstance(message, dict):
            continue
        usage = message.get("usage")
        if not isinstance(usage, dict):
            continue
        key = str(message.get("id") or item.get("requestId") or n)
        entry = Entry(
            time=_epoch(item.get("timestamp")),
            model=str(message.get("model") or ""),
            input=_int(usage, "input_tokens"),
            output=_int(usage, "output_tokens"),
            cache_read=_int(usage, "cache_read_input_tokens"),
            cache_write=_int(usage, "cache_creation_input_tokens"),
        )
        if entry.input or entry.output or entry.cache_read or entry.cache_write:  # not a synthetic note
            found[key] = entry
    return list(found.values())


def codex_entries(text: str) -> list[Entry]:
    """Usage of each turn of a Codex rollout (its `token_count` events' last_token_usage)."""
    model = ""
    out = []
    for item in _lines(text):
        payload = item.get("payload")
        if not isinstance(payload, dict):
            continue
        if item.get("type") == "turn_context" and isinstance(payload.get("model"), str):
            model = str(payload["model"])
        info = payload.get("info") if payload.get("type") == "token_count" else None
        last = info.get("last_token_usage") if isinstance(info, dict) else None
        if not isinstance(last, dict):
            continue
        cached = _int(last, "cached_input_tokens")
        out.append(
            Entry(
                time=_epoch(item.get("timestamp")),
                model=model,
                input=max(0, _int(last, "input_tokens") - cached),
                output=_int(last, "output_tokens"),
                cache_read=cached,
                cache_write=_int(last, "cache_write_input_tokens"),
            )
        )
    return out


def _count(text: str | None) -> int:
    if not text:
        return 0
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1].lower(), 1)
    return round(float(text.rstrip("kKmM")) * scale)


def aider_entries(text: str, time: float | None = None) -> list[Entry]:
    """Each `Tokens: N sent, M received. Cost: $X message, …` line aider printed."""
    return [
        Entry(
            time=time,
            input=_count(m["sent"]),
            output=_count(m["received"]),
            cache_write=_count(m["cw"]),
            cache_read=_count(m["cr"]),
            cost=float(m["cost"]) if m["cost"] else None,
        )
        for m in _AIDER.finditer(text)
    ]


def command_entries(text: str) -> list[Entry]:
    """A kind's usage command's output: one JSON object per answer, e.g. {"time": 1764806400,
    "model": "m", "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.01}; other lines are skipped."""
    out = []
    for item in _lines(text):
        when = item.get("time")
        cost = item.get("cost_usd")
        out.append(
            Entry(
                time=float(when) if isinstance(when, int | float) else _epoch(when),
                model=str(item.get("model") or ""),
                input=_int(item, "input_tokens"),
                output=_int(item, "output_tokens"),
                cache_read=_int(item, "cache_read_tokens"),
                cache_write=_int(item, "cache_write_tokens"),
                cost=float(cost) if isinstance(cost, int | float) else None,
            )
        )
    return out


def price_of(kind: Kind, entry: Entry) -> float | None:
    """Dollars for one entry: the client's own figure, else the kind's price for its model."""
    if entry.cost is not None:
        return entry.cost
    price = kind.price(entry.model)
    if price is None:
        return None if entry.input or entry.output else 0.0
    read = price.cache_read if price.cache_read is not None else price.input
    write = price.cache_write if price.cache_write is not None else price.input
    dollars = entry.input * price.input + entry.output * price.output
    return (dollars + entry.cache_read * read + entry.cache_write * write) / 1_000_000


def total(kind: Kind, entries: Sequence[Entry]) -> Usage:
    out = Usage()
    for entry in entries:
        one = Usage(
            input=entry.input,
            output=entry.output,
            cache_read=entry.cache_read,
            cache_write=entry.cache_write,
            cost=price_of(kind, entry),
            messages=1,
        )
        out = out + one
    return out


def between(entries: Sequence[Entry], start: float, end: float | None) -> list[Entry]:
    """The entries written in [start, end) (end None: until now); undated ones are left out."""
    return [e for e in entries if e.time is not None and e.time >= start and (end is None or e.time < end)]


def unpriced(kind: Kind, entries: Sequence[Entry]) -> list[str]:
    """Models used that the price table does not name."""
    return sorted({e.model for e in entries if e.cost is None and kind.price(e.model) is None and e.model})
