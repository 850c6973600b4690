"""A loopback mock of the model APIs (Anthropic Messages, OpenAI Chat Completions and Responses)."""

from __future__ import annotations

from tests.mockapi.behaviours import (
    DEFAULT_TEXT,
    ErrorKind,
    Fail,
    Hang,
    Reply,
    bad_key,
    overloaded,
    rate_limited,
    server_error,
    usage_limit,
)
from tests.mockapi.server import MockAPI, Request

__all__ = [
    "DEFAULT_TEXT",
    "ErrorKind",
    "Fail",
    "Hang",
    "MockAPI",
    "Reply",
    "Request",
    "bad_key",
    "overloaded",
    "rate_limited",
    "server_error",
    "usage_limit",
]
