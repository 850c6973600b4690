"""The mock model API itself, driven over real HTTP on 127.0.0.1 with the standard library client."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.mockapi import DEFAULT_TEXT, Hang, MockAPI, Reply, bad_key, rate_limited, usage_limit

pytestmark = [pytest.mark.agents, pytest.mark.timeout(30)]


def post(mock: MockAPI, path: str, body: dict[str, Any], key: str = "sk-fake") -> tuple[int, str]:
    request = urllib.request.Request(
        mock.url + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {key}", "x-api-key": key},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def sse_data(text: str) -> list[Any]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]


def test_anthropic_stream_carries_text_and_usage(mock_api: MockAPI) -> None:
    mock_api.script(Reply(text="Hi from the test", input_tokens=30, output_tokens=7))
    status, text = post(mock_api, "/v1/messages?beta=true", {"model": "m", "stream": True, "messages": []})
    assert status == 200
    events = sse_data(text)
    assert [e["type"] for e in events][:2] == ["message_start", "content_block_start"]
    assert events[-1]["type"] == "message_stop"
    deltas = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert deltas == "Hi from the test"
    assert events[0]["message"]["usage"]["input_tokens"] == 30
    assert [e["usage"]["output_tokens"] for e in events if e["type"] == "message_delta"] == [7]
    assert mock_api.requests[-1].query == "beta=true"


def test_chat_completions_stream_and_plain(mock_api: MockAPI) -> None:
    body = {"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True}, "messages": []}
    status, text = post(mock_api, "/v1/chat/completions", body)
    assert status == 200
    assert text.rstrip().endswith("data: [DONE]")
    chunks = sse_data(text)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == DEFAULT_TEXT
    assert chunks[-1]["usage"] == {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    status, text = post(mock_api, "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": []})
    assert json.loads(text)["choices"][0]["message"]["content"] == DEFAULT_TEXT


def test_responses_stream_ends_with_completed_and_usage(mock_api: MockAPI) -> None:
    mock_api.script(Reply(text="codex says hi", input_tokens=100, output_tokens=9))
    status, text = post(mock_api, "/v1/responses", {"model": "gpt-5-codex", "stream": True, "input": []})
    assert status == 200
    events = sse_data(text)
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "codex says hi"
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["usage"]["total_tokens"] == 109


def test_script_runs_in_order_then_falls_back(mock_api: MockAPI) -> None:
    mock_api.script(rate_limited("Please try again in 5s.", times=2), bad_key(), then=Reply(text="after"))
    results = [post(mock_api, "/v1/chat/completions", {"messages": []}) for _ in range(4)]
    assert [status for status, _ in results] == [429, 429, 401, 200]
    assert "Please try again in 5s." in json.loads(results[0][1])["error"]["message"]
    assert json.loads(results[2][1])["error"]["code"] == "invalid_api_key"
    assert json.loads(results[3][1])["choices"][0]["message"]["content"] == "after"


def test_each_dialect_renders_its_own_error_shape(mock_api: MockAPI) -> None:
    mock_api.script(bad_key(), usage_limit("You have hit your usage limit.", resets_at=1_900_000_000))
    status, text = post(mock_api, "/v1/messages", {"messages": []})
    assert (status, json.loads(text)["error"]["type"]) == (401, "authentication_error")
    status, text = post(mock_api, "/v1/responses", {"input": []})
    error = json.loads(text)["error"]
    assert (status, error["type"], error["resets_at"]) == (429, "usage_limit_reached", 1_900_000_000)


def test_records_requests_without_secret_values(mock_api: MockAPI) -> None:
    post(mock_api, "/v1/chat/completions", {"messages": [{"role": "user", "content": "find the pelican"}]}, key="sk-x")
    request = mock_api.requests[-1]
    assert request.headers["authorization"] == "<redacted>"
    assert request.headers["x-api-key"] == "<redacted>"
    assert "sk-x" not in json.dumps(request.headers)
    assert mock_api.saw("find the pelican")
    assert not mock_api.saw("a walrus")
    assert mock_api.usage() == (12, 5)


def test_head_and_non_model_paths_do_not_consume_the_script(mock_api: MockAPI) -> None:
    mock_api.script(bad_key())
    urllib.request.urlopen(urllib.request.Request(mock_api.url + "/", method="HEAD"), timeout=5).close()
    assert post(mock_api, "/v1/messages/count_tokens", {"messages": []})[0] == 200
    assert post(mock_api, "/v1/messages", {"messages": []})[0] == 401
    assert [r.method for r in mock_api.requests] == ["HEAD", "POST", "POST"]
    assert len(mock_api.model_requests) == 1


def test_hang_holds_the_request_until_the_mock_stops() -> None:
    mock = MockAPI().start()
    mock.script(Hang())
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(post(mock, "/v1/chat/completions", {"messages": []}))
        except Exception as error:  # the connection closes without an answer
            outcome.append(error)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not mock.model_requests and time.monotonic() < deadline:
        time.sleep(0.02)
    thread.join(0.5)
    assert thread.is_alive(), "a hanging request must not be answered"
    mock.stop()
    thread.join(5)
    assert outcome and not isinstance(outcome[0], tuple)


def test_a_side_request_gets_a_fixed_answer_and_leaves_the_script_alone(mock_api: MockAPI) -> None:
    mock_api.script(bad_key())
    title_format = {"format": {"type": "json_schema", "schema": {"type": "object"}}}
    status, text = post(mock_api, "/v1/messages", {"messages": [], "tools": [], "output_config": title_format})
    assert (status, json.loads(text)["content"][0]["text"]) == (200, '{"title": "Mock session"}')
    assert post(mock_api, "/v1/messages", {"messages": [], "tools": [{"name": "Bash"}]})[0] == 401
    assert len(mock_api.model_requests) == 1
    assert mock_api.requests[0].side
