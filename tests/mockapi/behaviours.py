"""What the mock does with the next model request: answer, fail with a status, or hang.

A test scripts a list of these; each is used `times` times, in order, then the mock falls back to
its default answer. Only model requests (messages, chat completions, responses) consume them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime

DEFAULT_TEXT = "Hello from the mock."


class ErrorKind(enum.Enum):
    """The failure a `Fail` stands for; each dialect renders it as its own API would."""

    RATE_LIMIT = "rate_limit"
    USAGE_LIMIT = "usage_limit"
    AUTH = "auth"
    SERVER = "server"
    OVERLOADED = "overloaded"


@dataclass(frozen=True)
class Reply:
    """A successful answer with `text`, reporting the given token usage.

    `delay` holds the stream open that long after the first text arrives, so a client shows its
    working screen.
    """

    text: str = DEFAULT_TEXT
    input_tokens: int = 12
    output_tokens: int = 5
    delay: float = 0.0
    times: int = 1


@dataclass(frozen=True)
class Fail:
    """An HTTP error whose body carries `message` (e.g. "Please try again in 5s.").

    `resets_at` (epoch seconds) goes into the body where the dialect has a field for it (codex's
    usage limit); `headers` are sent as they are (e.g. {"retry-after": "1"}). With `reset_in`
    (seconds), `{reset}` in the message becomes that moment after the request, in UTC, as Anthropic
    writes it ("2026-12-06 at 03:10:15 UTC"), so a test's limit lifts a few seconds after it is hit.
    """

    status: int
    kind: ErrorKind
    message: str
    times: int = 1
    resets_at: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reset_in: float | None = None

    def text(self, now: float) -> str:
        """The message as sent at `now` (epoch seconds)."""
        if self.reset_in is None:
            return self.message
        when = datetime.fromtimestamp(now + self.reset_in, UTC)
        return self.message.replace("{reset}", when.strftime("%Y-%m-%d at %H:%M:%S UTC"))


@dataclass(frozen=True)
class Hang:
    """Accept the request and never answer (until the mock stops or `seconds` pass)."""

    seconds: float = 3600.0
    times: int = 1


Behaviour = Reply | Fail | Hang


def rate_limited(message: str = "Please try again in 5s.", times: int = 1, retry_after: int | None = None) -> Fail:
    headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
    text = f"Rate limit reached for requests. {message}"
    return Fail(status=429, kind=ErrorKind.RATE_LIMIT, message=text, times=times, headers=headers)


def usage_limit(message: str, times: int = 1, resets_at: int | None = None, reset_in: float | None = None) -> Fail:
    return Fail(
        status=429, kind=ErrorKind.USAGE_LIMIT, message=message, times=times, resets_at=resets_at, reset_in=reset_in
    )


def bad_key(times: int = 1) -> Fail:
    return Fail(status=401, kind=ErrorKind.AUTH, message="Incorrect API key provided.", times=times)


def server_error(times: int = 1) -> Fail:
    return Fail(status=500, kind=ErrorKind.SERVER, message="Internal server error", times=times)


def overloaded(times: int = 1) -> Fail:
    return Fail(status=529, kind=ErrorKind.OVERLOADED, message="Overloaded", times=times)
