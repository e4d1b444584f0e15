"""The real `claude` CLI (pinned in tests/claude-code.version) against the scripted model server.

Fixtures (registered in tests/conftest.py):
    claude_bin     Path of the pinned CLI: $COORDSSH_TEST_CLAUDE, else
                   ~/.cache/coordssh/claude-code/<version>/node_modules/.bin/claude. Missing: the
                   test is skipped with the install command, or fails when
                   COORDSSH_REAL_CLAUDE_REQUIRED=1 (CI sets it).
    model_server   factory: model_server("success_commit", CWD=str(repo)) or model_server([steps])
                   -> a started ModelServer (stopped after the test); its request log is
                   tmp_path/model-server-N.jsonl
    claude_env     factory: claude_env(server, **extra) -> the env dict for a run: HOME = one
                   per-test directory (the same for every call in a test, so --resume works; it
                   has a .gitconfig with an identity), ANTHROPIC_BASE_URL = the server,
                   ANTHROPIC_API_KEY=test-key, no network besides it, no CLAUDE*/ANTHROPIC* var
                   of the developer's environment. claude_env.overrides(server, **extra): only
                   our variables, for a coordssh machine's `env` (dispatch_context(env=...)).

Helpers: run_claude (to the end, with a guard timeout), start_claude + read_events (a running CLI
in its own process group, read line by line, then kill_group).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.model_script import load_script
from tests.support.model_server import ModelServer

VERSION_FILE = Path(__file__).resolve().parents[1] / "claude-code.version"
STREAM = ["-p", "--output-format", "stream-json", "--verbose"]
# HOME as the test session started: fixtures like ssh_home point HOME elsewhere later
SESSION_HOME = Path.home()
GUARD_S = 180  # kill a CLI that never ends so a broken test fails instead of hanging CI
QUIET_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",  # also telemetry and error reporting
    "DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_BUG_COMMAND": "1", "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
}


def pinned_version() -> str:
    return VERSION_FILE.read_text().strip()


def install_dir(version: str | None = None) -> Path:
    return SESSION_HOME / ".cache" / "coordssh" / "claude-code" / (version or pinned_version())


def claude_path() -> Path:
    found = os.environ.get("COORDSSH_TEST_CLAUDE")
    return Path(found) if found else install_dir() / "node_modules" / ".bin" / "claude"


def install_command() -> str:
    v = pinned_version()
    return (f'npm install --prefix "$HOME/.cache/coordssh/claude-code/{v}" --no-audit --no-fund '
            f"@anthropic-ai/claude-code@{v}")


def require_claude() -> Path:
    path = claude_path()
    if os.access(path, os.X_OK):
        return path
    why = f"the real claude CLI is not at {path}; install it with: {install_command()}"
    if os.environ.get("COORDSSH_REAL_CLAUDE_REQUIRED") == "1":
        pytest.fail(why)
    pytest.skip(why)


def run_overrides(home: Path, server_url: str, **extra: str) -> dict[str, str]:
    """Only what a run sets on top of an inherited environment (a coordssh machine's `env`)."""
    return {**QUIET_ENV, "HOME": str(home), "ANTHROPIC_BASE_URL": server_url,
            "ANTHROPIC_API_KEY": "test-key", **extra}


def run_env(home: Path, server_url: str, **extra: str) -> dict[str, str]:
    """A whole environment for the CLI: ours, without the developer's CLAUDE*/ANTHROPIC* vars."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("CLAUDE", "ANTHROPIC", "COORDSSH_", "GIT_"))
            and k not in ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME")}
    return {**base, **run_overrides(home, server_url, **extra)}


def make_home(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    (path / ".gitconfig").write_text("[user]\n\tname = claude test\n\temail = claude@test.invalid\n")
    return path


# --- running the CLI ---------------------------------------------------------------------------

@dataclass
class Run:
    returncode: int | None
    stdout: bytes
    stderr: bytes
    events: list[dict] = field(default_factory=list)

    @property
    def result(self) -> dict | None:
        return next((e for e in reversed(self.events) if e.get("type") == "result"), None)

    def of_type(self, kind: str, subtype: str | None = None) -> list[dict]:
        return [e for e in self.events if e.get("type") == kind
                and (subtype is None or e.get("subtype") == subtype)]


def parse_events(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def run_claude(claude: Path, args: list[str], *, cwd: Path, env: dict, prompt: str | bytes = "",
               timeout: float = GUARD_S) -> Run:
    """`claude -p --output-format stream-json --verbose ARGS` with the prompt on stdin, to the end."""
    data = prompt.encode() if isinstance(prompt, str) else prompt
    done = subprocess.run([str(claude), *STREAM, *args], input=data, cwd=cwd, env=env,
                          capture_output=True, timeout=timeout, start_new_session=True)
    return Run(done.returncode, done.stdout, done.stderr, parse_events(done.stdout))


def start_claude(claude: Path, args: list[str], *, cwd: Path, env: dict,
                 prompt: str | bytes = "") -> subprocess.Popen:
    """The CLI in its own process group, prompt written and stdin closed; stdout a pipe."""
    proc = subprocess.Popen([str(claude), *STREAM, *args], cwd=cwd, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    proc.stdin.write(prompt.encode() if isinstance(prompt, str) else prompt)
    proc.stdin.close()
    return proc


def read_lines(proc: subprocess.Popen, until, timeout: float = GUARD_S) -> list[bytes]:
    """stdout lines (with their newline) of a running CLI until `until(events so far)` is true or
    stdout ends; AssertionError after `timeout`."""
    lines: list[bytes] = []
    events: list[dict] = []
    buffer = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while not until(events):
            if time.monotonic() > deadline:
                raise AssertionError(f"CLI events not as expected within {timeout:g}s: {events}")
            if not sel.select(timeout=0.5):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            lines += [line + b"\n" for line in complete]
            events += [json.loads(line) for line in complete if line.strip()]
    return lines


def read_events(proc: subprocess.Popen, until, timeout: float = GUARD_S) -> list[dict]:
    """Events from a running CLI until `until(events)` is true (or stdout ends)."""
    return parse_events(b"".join(read_lines(proc, until, timeout)))


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture
def claude_bin() -> Path:
    return require_claude()


@pytest.fixture
def model_server(tmp_path: Path):
    servers: list[ModelServer] = []

    def make(script, **params) -> ModelServer:
        steps = load_script(script, **params) if isinstance(script, (str, Path)) else script
        server = ModelServer(steps, log_path=tmp_path / f"model-server-{len(servers) + 1}.jsonl")
        servers.append(server.start())
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def claude_env(tmp_path: Path):
    home = make_home(tmp_path / "claude-home")

    def make(server: ModelServer, **extra: str) -> dict[str, str]:
        return run_env(home, server.url, **extra)

    make.home = home
    make.overrides = lambda server, **extra: run_overrides(home, server.url, **extra)
    return make
