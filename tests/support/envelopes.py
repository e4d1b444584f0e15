"""Run envelopes made by hand (real files, real processes) for the probe/observe/follow tests.

    env = Envelopes(run_root)
    run = env.make("r1", stream=fixture("success.jsonl"), live=True, started_at=100)
    run.append(b'...')        # the "agent" writes more
    run.finish(exit_code=0)   # the trap's files, then the process ends
    env.cleanup()             # kills only the processes this helper started
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "stream-json"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_lines(name: str) -> list[bytes]:
    return fixture(name).splitlines(keepends=True)


@dataclass
class Run:
    dir: Path
    pid: int | None = None      # a live process group leader, as the wrapper would be

    @property
    def id(self) -> str:
        return self.dir.name

    def write(self, name: str, content: str | bytes) -> None:
        path = self.dir / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)

    def append(self, data: bytes) -> None:
        with open(self.dir / "stream.jsonl", "ab") as fh:
            fh.write(data)

    def finish(self, exit_code: int = 0, *, pushed_sha: str | None = None) -> None:
        self.kill()
        self.write("claude_exit", f"{exit_code}\n")
        if pushed_sha is not None:
            self.write("pushed_sha", f"{pushed_sha}\n")
        self.write("exit_code", f"{exit_code}\n")
        self.write("finished_at", f"{int(time.time())}\n")

    def kill(self) -> None:
        if self.pid is not None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state != "Z"


@dataclass
class Envelopes:
    root: Path
    runs: list[Run] = field(default_factory=list)

    def make(self, run_id: str, *, stream: bytes | None = b"", live: bool = True,
             started_at: float | None = None, files: dict[str, str] | None = None,
             command: list[str] | None = None) -> Run:
        run = Run(self.root / run_id)
        run.dir.mkdir(parents=True, mode=0o700)
        if stream is not None:
            run.write("stream.jsonl", stream)
        run.write("stderr.log", b"")
        run.pid = _group_leader(command or ["sleep", "600"]) if live else None
        pid = run.pid if live else _dead_pid()
        run.write("pid", f"{pid}\n")
        run.write("started_at", f"{int(started_at if started_at is not None else time.time())}\n")
        for name, content in (files or {}).items():
            run.write(name, content)
        self.runs.append(run)
        return run

    def cleanup(self) -> None:
        for run in self.runs:
            run.kill()


def _group_leader(command: list[str]) -> int:
    """A real process leading its own session, like the wrapper under `setsid nohup`. Started
    through a shell that exits at once, so init (not this test) is its parent and reaps it."""
    out = subprocess.run(["sh", "-c", 'setsid "$@" </dev/null >/dev/null 2>&1 & echo $!', "sh",
                          *command], check=True, capture_output=True, text=True).stdout
    return int(out.strip())


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def processes_with(*needles: str) -> list[int]:
    """Pids whose command line contains every needle (to cut a follower off, as a drop would)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        line = b" ".join(argv).decode("utf-8", "replace")
        if all(needle in line for needle in needles):
            found.append(int(entry.name))
    return found


async def until(predicate, timeout: float = 90.0, what: str = "condition") -> None:
    """Poll `predicate` until true; generous for a slow CI machine."""
    import asyncio

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def make_context(tmp_path: Path, *machines, runs=None):
    """A Context over real parts: the given machines, a fresh board, a real Connector."""
    from coordssh.board.store import Board
    from coordssh.config.schema import Config, Runs
    from coordssh.services.context import Context
    from coordssh.transport.connect import Connector

    config = Config(path=tmp_path / "coordinator.yml", state_dir=tmp_path / "state", repos={},
                    machines={m.name: m for m in machines}, runs=runs or Runs())
    return Context(config=config, board=Board.open(config.state_dir), connector=Connector(),
                   forge_factory=lambda repo: None)


def assignment_for(machine, run_id: str, **fields):
    """A board row for a run envelope at `<run_root>/<run_id>` on `machine`."""
    from coordssh.domain import models as m

    values = dict(id=run_id, machine=machine.name, repo="demo", issue=1,
                  branch=f"issue-1-{run_id}", run_dir=f"{machine.run_root}/{run_id}",
                  status=m.RUNNING, created_at=time.time())
    values.update(fields)
    return m.Assignment(**values)


@pytest.fixture
def envelopes(machine):
    """Envelopes under the `machine` fixture's run_root (import it into a test module)."""
    Path(machine.run_root).mkdir(parents=True, exist_ok=True)
    env = Envelopes(Path(machine.run_root))
    yield env
    env.cleanup()


def put(ctx, machine, run_id: str, **fields):
    """Put a board row for the envelope `run_id` on `machine`; the row."""
    row = assignment_for(machine, run_id, **fields)
    ctx.board.put(row)
    return row
