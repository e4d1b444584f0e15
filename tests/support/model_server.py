"""A scripted stand-in for the Anthropic Messages API on 127.0.0.1, for the real `claude` CLI.

    with ModelServer(load_script("success_commit"), log_path=tmp / "requests.jsonl") as server:
        env = {..., "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "test-key"}
        subprocess.run([claude, "-p", ...], env=env)
        body = server.main_requests()[0]["body"]       # model, tools, system, messages

Endpoints (contracts/claude-headless.md section 7):
    POST /v1/messages[?beta=true]     SSE answer of the script's step for this request
    POST /v1/messages/count_tokens    {"input_tokens": N}
    anything else                     404 with the API's not_found_error body

Requests are *main* (they offer `tools` and a real `max_tokens`: the agent loop; they consume the
script, see tests/support/model_script.py) or *side* (no tools, or max_tokens below
SIDE_MAX_TOKENS: titles, summaries, quota checks; a short text answer, the script does not move).
Every request is logged in memory (`requests`) and, with `log_path`, appended to a JSONL file:
seq, kind, method, path, query, headers (secrets redacted), body (parsed JSON), tool_results
(count), served (what the script answered). Script problems (a request past the script's end)
land in `problems`; a test should assert it is empty.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.support.model_script import FOREVER, Step, response_events, step

SIDE_MAX_TOKENS = 1024
SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})
SIDE_ANSWER = Step("text", text="OK")


class _Turn:
    """One response of the script and the faults served before it."""

    def __init__(self, start: int, faults: list[Step], response: Step | None):
        self.start, self.faults, self.response = start, faults, response
        self.fault_index = self.fault_used = 0
        self.answered = False

    def next_step(self) -> Step | None:
        while self.fault_index < len(self.faults):
            fault = self.faults[self.fault_index]
            if fault.repeat == FOREVER or self.fault_used < fault.repeat:
                self.fault_used += 1
                return fault
            self.fault_index, self.fault_used = self.fault_index + 1, 0
        if self.response is not None:
            self.answered = True
        return self.response


def _turns(steps: Iterable[Step]) -> list[_Turn]:
    turns, faults, count = [], [], 0
    for s in steps:
        if not s.is_response:
            faults.append(s)
            continue
        turns.append(_Turn(count, faults, s))
        faults, count = [], count + len(s.tools)
    if faults:
        turns.append(_Turn(count, faults, None))
    return turns


def tool_result_count(body: dict) -> int:
    return sum(1 for msg in body.get("messages") or [] if isinstance(msg.get("content"), list)
               for block in msg["content"] if block.get("type") == "tool_result")


def user_texts(body: dict) -> list[str]:
    """Every text block (or string content) of the request's user messages, in order."""
    texts = []
    for msg in body.get("messages") or []:
        if msg.get("role") != "user":
            continue
        content = msg.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        texts += [b["text"] for b in blocks if b.get("type") == "text"]
    return texts


def tool_names(body: dict) -> list[str]:
    return [t.get("name", "") for t in body.get("tools") or []]


class ModelServer:
    def __init__(self, steps: Iterable[Step | dict] = (), *, log_path: Path | None = None):
        self._turns = _turns(step(s) for s in steps)
        self.log_path = Path(log_path) if log_path else None
        self.requests: list[dict] = []
        self.problems: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        name="model-server")
        self._messages = 0

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> ModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()          # hanging and delayed responses end
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- what tests read -----------------------------------------------------------------
    def main_requests(self) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["kind"] == "main"]

    def wait_for_requests(self, count: int, *, kind: str = "main", timeout: float = 120.0):
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [r for r in self.requests if r["kind"] == kind]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} of {count} {kind} requests in {timeout:g}s")
            time.sleep(0.1)

    # --- the handler's side --------------------------------------------------------------
    def choose(self, body: dict) -> tuple[str, Step, int]:
        """(kind, step to serve, tool_result count) for one /v1/messages request."""
        results = tool_result_count(body)
        side = not body.get("tools") or int(body.get("max_tokens") or 0) < SIDE_MAX_TOKENS
        if side:
            return "side", SIDE_ANSWER, results
        with self._lock:
            candidates = [t for t in self._turns if t.start == results]
            turn = next((t for t in candidates if not t.answered), None) or (
                candidates[-1] if candidates else None)
            chosen = turn.next_step() if turn else None
            if chosen is None:
                self.problems.append(f"no script step for a request with {results} tool results")
                chosen = Step("text", text=f"(model script exhausted at {results} tool results)")
        return "main", chosen, results

    def record(self, entry: dict) -> None:
        with self._lock:
            entry["seq"] = len(self.requests) + 1
            self.requests.append(entry)
            if self.log_path:
                with self.log_path.open("a", encoding="utf-8") as log:
                    log.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def next_message_id(self) -> str:
        with self._lock:
            self._messages += 1
            return f"msg_fake{self._messages:04d}"


def _handler_class(server: ModelServer):
    class Handler(_Handler):
        model_server = server
    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    model_server: ModelServer

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet; the JSONL log has it all
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._log("other", None, "404")
        self._json(404, {"type": "error", "error": {"type": "not_found_error",
                                                    "message": f"no route {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802
        raw = self._read_body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_unparsed": raw.decode("utf-8", "replace")}
        path = urlsplit(self.path).path
        if path == "/v1/messages/count_tokens":
            self._log("count_tokens", body, "count")
            return self._json(200, {"input_tokens": max(1, len(raw) // 4)})
        if path != "/v1/messages":
            return self.do_GET()
        kind, chosen, results = self.model_server.choose(body)
        self._log(kind, body, chosen.describe(), results)
        if chosen.delay:
            self.model_server._stopping.wait(chosen.delay)
        if chosen.kind == "error":
            return self._json(chosen.status, chosen.body or {}, chosen.headers)
        self._stream(chosen, str(body.get("model") or "claude-fake"))

    # --- responses -----------------------------------------------------------------------
    def _stream(self, chosen: Step, model: str) -> None:
        message_id = self.model_server.next_message_id()
        events = response_events(chosen if chosen.kind in ("text", "tools") else
                                 Step("text", text="(interrupted response)"),
                                 model=model, message_id=message_id,
                                 tool_id_base=f"toolu_{message_id[4:]}")
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", f"req_{message_id[4:]}")
        self.end_headers()
        if chosen.kind == "hang":
            self._chunk(events[0])
            self.model_server._stopping.wait()
            self.close_connection = True
            return
        if chosen.kind == "cut":
            for event in events[:chosen.after_events]:
                self._chunk(event)
            nxt = events[min(chosen.after_events, len(events) - 1)]
            self._chunk(nxt[: len(nxt) // 2])
            self.connection.shutdown(socket.SHUT_RDWR)   # no final chunk: a broken stream
            self.close_connection = True
            return
        for event in events:
            self._chunk(event)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_fakeerror")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    # --- requests ------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _log(self, kind: str, body: dict | None, served: str, results: int = 0) -> None:
        split = urlsplit(self.path)
        headers = {k.lower(): ("<redacted>" if k.lower() in SECRET_HEADERS else v)
                   for k, v in self.headers.items()}
        self.model_server.record({
            "time": time.time(), "kind": kind, "method": self.command, "path": split.path,
            "query": {k: v[-1] for k, v in parse_qs(split.query).items()}, "headers": headers,
            "body": body, "tool_results": results, "served": served})


__all__ = ["ModelServer", "tool_names", "tool_result_count", "user_texts"]
