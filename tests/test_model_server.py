"""The scripted Messages API server itself, over real HTTP (http.client), without the CLI."""

from __future__ import annotations

import http.client
import json
import threading

import pytest

from tests.support.model_script import SCRIPTS, load_script, step
from tests.support.model_server import ModelServer, tool_result_count, user_texts

TOOLS = [{"name": "Bash", "input_schema": {"type": "object"}}]


def body(results: int = 0, *, tools=TOOLS, max_tokens: int = 32000, prompt: str = "hi") -> dict:
    messages = [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
    for n in range(results):
        messages += [{"role": "assistant", "content": [{"type": "tool_use", "id": f"t{n}",
                                                        "name": "Bash", "input": {}}]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{n}",
                                                   "content": "ok"}]}]
    return {"model": "claude-test-1", "max_tokens": max_tokens, "stream": True,
            "messages": messages, **({"tools": tools} if tools else {})}


def post(server: ModelServer, payload: dict, path: str = "/v1/messages?beta=true"):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", path, json.dumps(payload),
                 {"content-type": "application/json", "x-api-key": "sk-secret"})
    response = conn.getresponse()
    return response, response.read()


def events(data: bytes) -> list[tuple[str, dict]]:
    out = []
    for chunk in data.decode().split("\n\n"):
        if chunk.strip():
            name, payload = chunk.split("\n", 1)
            out.append((name.removeprefix("event: "), json.loads(payload.removeprefix("data: "))))
    return out


@pytest.fixture
def serve(tmp_path):
    started = []

    def make(steps):
        server = ModelServer(steps, log_path=tmp_path / "log.jsonl").start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def test_text_and_tool_responses_follow_the_tool_result_count(serve, tmp_path):
    server = serve([{"text": "Looking.", "tool": {"name": "Bash", "input": {"command": "ls"}}},
                    {"text": "Done."}])
    response, data = post(server, body(0))
    assert response.status == 200 and response.getheader("content-type") == "text/event-stream"
    got = events(data)
    assert [n for n, _ in got] == ["message_start", "content_block_start", "content_block_delta",
                                   "content_block_stop", "content_block_start",
                                   "content_block_delta", "content_block_stop", "message_delta",
                                   "message_stop"]
    assert got[0][1]["message"]["model"] == "claude-test-1"
    assert got[2][1]["delta"] == {"type": "text_delta", "text": "Looking."}
    assert got[4][1]["content_block"]["name"] == "Bash"
    assert json.loads(got[5][1]["delta"]["partial_json"]) == {"command": "ls"}
    assert got[7][1]["delta"]["stop_reason"] == "tool_use"
    _, data = post(server, body(0))          # the same turn again (a retry): the same answer
    assert events(data)[7][1]["delta"]["stop_reason"] == "tool_use"
    _, data = post(server, body(1))
    assert events(data)[2][1]["delta"]["text"] == "Done."
    assert events(data)[-2][1]["delta"]["stop_reason"] == "end_turn"
    assert server.problems == []
    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["served"] for r in logged] == ["tools:Bash", "tools:Bash", "text"]
    assert logged[0]["query"] == {"beta": "true"} and logged[0]["headers"]["x-api-key"] == "<redacted>"
    assert "sk-secret" not in (tmp_path / "log.jsonl").read_text()
    assert logged[2]["tool_results"] == 1 and logged[2]["body"]["model"] == "claude-test-1"


def test_side_requests_get_a_short_answer_and_do_not_move_the_script(serve):
    server = serve([{"text": "main answer"}])
    for side in (body(tools=None), body(max_tokens=512)):
        _, data = post(server, side)
        assert events(data)[2][1]["delta"]["text"] == "OK"
    _, data = post(server, body())
    assert events(data)[2][1]["delta"]["text"] == "main answer"
    assert [r["kind"] for r in server.requests] == ["side", "side", "main"]


def test_errors_repeat_then_the_response(serve):
    server = serve([{"error": {"status": 429, "headers": {"retry-after": "7"}}, "repeat": 2},
                    {"text": "finally"}])
    for _ in range(2):
        response, data = post(server, body())
        assert response.status == 429 and response.getheader("retry-after") == "7"
        assert json.loads(data) == {"type": "error", "error": {
            "type": "rate_limit_error",
            "message": "Number of request tokens has exceeded your per-minute rate limit"}}
    response, data = post(server, body())
    assert response.status == 200 and events(data)[2][1]["delta"]["text"] == "finally"


def test_an_error_forever_and_a_request_past_the_script(serve):
    server = serve([{"error": 401, "repeat": "forever"}])
    for _ in range(3):
        response, data = post(server, body())
        assert response.status == 401
        assert json.loads(data)["error"] == {"type": "authentication_error",
                                             "message": "invalid x-api-key"}
    assert server.problems == []
    server = serve([{"text": "only one"}])
    post(server, body(0))
    _, data = post(server, body(3))
    assert "script exhausted" in events(data)[2][1]["delta"]["text"]
    assert server.problems == ["no script step for a request with 3 tool results"]


def test_count_tokens_and_unknown_paths(serve):
    server = serve([])
    response, data = post(server, body(), "/v1/messages/count_tokens?beta=true")
    assert response.status == 200 and json.loads(data)["input_tokens"] > 0
    response, data = post(server, body(), "/v1/other")
    assert response.status == 404 and json.loads(data)["error"]["type"] == "not_found_error"


def test_cut_breaks_the_chunked_stream(serve):
    server = serve([{"cut": {"after_events": 2}}, {"text": "after"}])
    with pytest.raises(http.client.IncompleteRead):
        post(server, body())
    _, data = post(server, body())
    assert events(data)[2][1]["delta"]["text"] == "after"


def in_thread(server: ModelServer) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def client():
        try:
            outcome["data"] = post(server, body())[1]
        except (http.client.HTTPException, OSError) as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=client)
    thread.start()
    server.wait_for_requests(1)
    thread.join(timeout=1)
    return thread, outcome


def test_hang_holds_the_response_until_stop(serve):
    server = serve([{"hang": True}])
    thread, outcome = in_thread(server)
    assert thread.is_alive()                       # no answer while the server runs
    server.stop()
    thread.join(timeout=30)
    assert not thread.is_alive() and "error" in outcome   # the stream ended without its end


def test_delay_holds_the_answer_then_sends_it(serve):
    server = serve([{"text": "slow", "delay": 600}])
    thread, outcome = in_thread(server)
    assert thread.is_alive()                       # still waiting out its delay
    server.stop()                                  # stopping cuts the delay short
    thread.join(timeout=30)
    assert events(outcome["data"])[2][1]["delta"]["text"] == "slow"


def test_helpers_and_script_files():
    b = body(2, prompt="the prompt")
    assert tool_result_count(b) == 2 and user_texts(b) == ["the prompt"]
    with pytest.raises(ValueError, match="unknown keys"):
        step({"txt": "typo"})
    steps = load_script("success_commit", CWD="/repo")
    assert steps[0].tools[0]["input"]["file_path"] == "/repo/hello.txt"
    for path in SCRIPTS.glob("*.yml"):
        assert load_script(path.stem, CWD="/r", WORD="w", ANSWER="a", DELAY="1")
