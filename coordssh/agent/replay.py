"""The replay agent: a stand-in for `claude` that plays a recorded transcript; no model is called.

It is a feature (`coordssh demo` on a machine with no claude login, `doctor --dispatch`), not a
test double. It is a POSIX sh script shipped as package data (`coordssh/data/replay/`) because a
worker is only assumed to have sh and git. `install_replay_agent` writes it to the worker beside
its transcript, and the caller uses the returned path as the machine's `claude_command`.
"""

from __future__ import annotations

import posixpath
from importlib import resources

from coordssh.transport.base import Transport

REPLAY_LABEL = "replay agent: plays a recorded transcript, no model is called"
REPLAY_MODEL = "replay"
AGENT_FILE = "coordssh-replay"
TRANSCRIPT_SUFFIX = ".replay"     # the script reads "$0.replay"
REVIEW_SUFFIX = ".review.replay"  # ... and "$0.review.replay" for a review prompt


def _data(name: str) -> bytes:
    return resources.files("coordssh").joinpath("data", "replay", name).read_bytes()


def agent_script() -> bytes:
    return _data("agent.sh")


def transcript() -> bytes:
    """The recorded session, with `#` directive lines and `@PLACEHOLDER@`s (see the file)."""
    return _data("session.replay")


def review_transcript() -> bytes:
    """The recorded review (commits nothing; its verdict from one mechanical check: agent.sh)."""
    return _data("review.replay")


def replay_agent_path(run_root: str) -> str:
    """Where the agent lives on a worker: `bin/coordssh-replay` beside the run root."""
    parent = posixpath.dirname(run_root.rstrip("/")) or "/"
    return posixpath.join(parent, "bin", AGENT_FILE)


async def install_replay_agent(transport: Transport, run_root: str) -> str:
    """Write the agent (mode 0700) and its two transcripts to the worker; return its path.

    The path is as the worker sees it (it may start with `~/`). Idempotent: it rewrites all
    files, so a newer coordssh replaces an older agent.
    """
    path = replay_agent_path(run_root)
    await transport.write_file(path + TRANSCRIPT_SUFFIX, transcript(), mode=0o600)
    await transport.write_file(path + REVIEW_SUFFIX, review_transcript(), mode=0o600)
    await transport.write_file(path, agent_script(), mode=0o700)
    return path
