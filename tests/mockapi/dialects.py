"""The three wire formats the real clients speak, rendered from a behaviour.

- Anthropic Messages (`POST /v1/messages`, Claude Code): SSE with message_start ... message_stop.
- OpenAI Chat Completions (`POST /v1/chat/completions`, aider through litellm, llm): SSE of
  chat.completion.chunk objects ending in `[DONE]`, or one JSON object.
- OpenAI Responses (`POST /v1/responses`, codex): SSE of response.* events ending in
  response.completed.

A stream is a list of byte chunks; `PAUSE` marks where a slow reply waits.
"""

from __future__ import annotations

import enum
import json
import time
from typing import Any

from tests.mockapi.behaviours import ErrorKind, Fail, Reply

PAUSE = b""
Json = dict[str, Any]


class Dialect(enum.Enum):
    ANTHROPIC = "anthropic"
    CHAT = "chat"
    RESPONSES = "responses"


def dialect_for(path: str) -> Dialect | None:
    """The dialect of a model request path, or None for anything else."""
    if path.endswith("/messages"):
        return Dialect.ANTHROPIC
    if path.endswith("/chat/completions"):
        return Dialect.CHAT
    if path.endswith("/responses"):
        return Dialect.RESPONSES
    return None


def _sse(data: Json, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def _pieces(text: str) -> list[str]:
    """The text as two deltas (first word, rest), so clients see a real stream."""
    first, sep, rest = text.partition(" ")
    return [first + sep, rest] if rest else [text]


def _model(body: Json, fallback: str) -> str:
    return str(body.get("model") or fallback)


# Anthropic Messages


def _anthropic_message(body: Json, reply: Reply, n: int) -> Json:
    return {
        "id": f"msg_mock{n:04d}",
        "type": "message",
        "role": "assistant",
        "model": _model(body, "claude-mock"),
        "content": [{"type": "text", "text": reply.text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
    }


def _anthropic_stream(body: Json, reply: Reply, n: int) -> list[bytes]:
    start = _anthropic_message(body, reply, n) | {"content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": reply.input_tokens, "output_tokens": 1}
    chunks = [
        _sse({"type": "message_start", "message": start}, "message_start"),
        _sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),
        _sse({"type": "ping"}, "ping"),
    ]
    for i, piece in enumerate(_pieces(reply.text)):
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        chunks.append(_sse(delta, "content_block_delta"))
        if i == 0:
            chunks.append(PAUSE)
    end = {"stop_reason": "end_turn", "stop_sequence": None}
    chunks += [
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse({"type": "message_delta", "delta": end, "usage": {"output_tokens": reply.output_tokens}}, "message_delta"),
        _sse({"type": "message_stop"}, "message_stop"),
    ]
    return chunks


_ANTHROPIC_ERRORS = {
    ErrorKind.RATE_LIMIT: "rate_limit_error",
    ErrorKind.USAGE_LIMIT: "rate_limit_error",
    ErrorKind.AUTH: "authentication_error",
    ErrorKind.SERVER: "api_error",
    ErrorKind.OVERLOADED: "overloaded_error",
}

# OpenAI Chat Completions and Responses share the error shape.

_OPENAI_ERRORS = {
    ErrorKind.RATE_LIMIT: ("requests", "rate_limit_exceeded"),
    ErrorKind.USAGE_LIMIT: ("insufficient_quota", "insufficient_quota"),
    ErrorKind.AUTH: ("invalid_request_error", "invalid_api_key"),
    ErrorKind.SERVER: ("server_error", None),
    ErrorKind.OVERLOADED: ("server_error", "overloaded"),
}


def _chat_chunk(body: Json, n: int, delta: Json, finish: str | None) -> Json:
    return {
        "id": f"chatcmpl-mock{n:04d}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": _model(body, "gpt-4o-mini"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _chat_usage(reply: Reply) -> Json:
    total = reply.input_tokens + reply.output_tokens
    return {"prompt_tokens": reply.input_tokens, "completion_tokens": reply.output_tokens, "total_tokens": total}


def _chat_stream(body: Json, reply: Reply, n: int) -> list[bytes]:
    chunks = [_sse(_chat_chunk(body, n, {"role": "assistant", "content": ""}, None))]
    for i, piece in enumerate(_pieces(reply.text)):
        chunks.append(_sse(_chat_chunk(body, n, {"content": piece}, None)))
        if i == 0:
            chunks.append(PAUSE)
    chunks.append(_sse(_chat_chunk(body, n, {}, "stop")))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage_chunk = _chat_chunk(body, n, {}, None) | {"choices": [], "usage": _chat_usage(reply)}
        chunks.append(_sse(usage_chunk))
    chunks.append(b"data: [DONE]\n\n")
    return chunks


def _chat_json(body: Json, reply: Reply, n: int) -> Json:
    return {
        "id": f"chatcmpl-mock{n:04d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": _model(body, "gpt-4o-mini"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": reply.text}, "finish_reason": "stop"},
        ],
        "usage": _chat_usage(reply),
    }


def _responses_stream(body: Json, reply: Reply, n: int) -> list[bytes]:
    rid, mid = f"resp_mock{n:04d}", f"msg_mock{n:04d}"
    model = _model(body, "gpt-5-codex")
    done_part = {"type": "output_text", "text": reply.text, "annotations": []}
    item = {"id": mid, "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    done_item = item | {"status": "completed", "content": [done_part]}
    usage = {
        "input_tokens": reply.input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": reply.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": reply.input_tokens + reply.output_tokens,
    }
    response = {"id": rid, "object": "response", "created_at": int(time.time()), "model": model}
    where = {"item_id": mid, "output_index": 0, "content_index": 0}

    def event(kind: str, **fields: Any) -> bytes:
        return _sse({"type": kind, **fields}, kind)

    chunks = [
        event("response.created", response=response | {"status": "in_progress", "output": []}),
        event("response.output_item.added", output_index=0, item=item),
        event("response.content_part.added", **where, part={"type": "output_text", "text": "", "annotations": []}),
    ]
    for i, piece in enumerate(_pieces(reply.text)):
        chunks.append(event("response.output_text.delta", **where, delta=piece))
        if i == 0:
            chunks.append(PAUSE)
    chunks += [
        event("response.output_text.done", **where, text=reply.text),
        event("response.content_part.done", **where, part=done_part),
        event("response.output_item.done", output_index=0, item=done_item),
        event("response.completed", response=response | {"status": "completed", "output": [done_item], "usage": usage}),
    ]
    return chunks


# The interface the server uses


def wants_stream(dialect: Dialect, body: Json) -> bool:
    return bool(body.get("stream"))


def reply_stream(dialect: Dialect, body: Json, reply: Reply, n: int) -> list[bytes]:
    if dialect is Dialect.ANTHROPIC:
        return _anthropic_stream(body, reply, n)
    if dialect is Dialect.CHAT:
        return _chat_stream(body, reply, n)
    return _responses_stream(body, reply, n)


def reply_json(dialect: Dialect, body: Json, reply: Reply, n: int) -> Json:
    if dialect is Dialect.ANTHROPIC:
        return _anthropic_message(body, reply, n)
    if dialect is Dialect.CHAT:
        return _chat_json(body, reply, n)
    output = [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": reply.text}]}]
    usage = {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens}
    return {"id": f"resp_mock{n:04d}", "object": "response", "status": "completed", "output": output, "usage": usage}


def error_body(dialect: Dialect, fail: Fail) -> Json:
    message = fail.text(time.time())
    if dialect is Dialect.ANTHROPIC:
        return {"type": "error", "error": {"type": _ANTHROPIC_ERRORS[fail.kind], "message": message}}
    if dialect is Dialect.RESPONSES and fail.kind is ErrorKind.USAGE_LIMIT:
        # codex reads this shape as "You've hit your usage limit" and prints the reset time.
        error: Json = {"type": "usage_limit_reached", "message": message, "plan_type": "plus"}
        if fail.resets_at is not None:
            error["resets_at"] = fail.resets_at
        return {"error": error}
    kind, code = _OPENAI_ERRORS[fail.kind]
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
