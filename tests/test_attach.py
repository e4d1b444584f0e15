"""`coordssh attach` to a tmux run over the real sshd, through a pseudo-terminal.

attach connects the way every other command does (asyncssh, the HOME coordssh uses, its
~/.ssh/config, keys and known_hosts): the machine here is known only by the alias in the
ssh_home fixture's ~/.ssh/config, which the system `ssh` (reading the login account's home)
cannot resolve.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import secrets
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from coordssh.board.store import Board
from coordssh.config.load import load_config
from coordssh.shell.command import cmd
from coordssh.transport.connect import Connector
from tests.conftest import SSH_ALIAS
from tests.support.dispatch import wait_for
from tests.support.envelopes import assignment_for

pytestmark = pytest.mark.ssh
DEADLINE = 120.0
DETACH = b"\x02d"  # tmux's default prefix C-b, then d


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "coordinator.yml"
    path.write_text(
        "repos:\n  - name: demo\nmachines:\n"
        f"  - name: sshbox\n    host: {SSH_ALIAS}\n    connection: ssh\n"
        f"    worktree_root: {tmp_path}/wt\n    run_root: {tmp_path}/runs\n")
    return path


def on_worker(machine, *argv: str) -> str:
    async def go() -> str:
        async with await Connector().connect(machine) as transport:
            return (await transport.run(cmd(*argv), check=True)).text

    return asyncio.run(go())


def _controlling_terminal() -> None:
    """In the child: a session of its own with the pty as its controlling terminal, so that a
    window size change reaches it as SIGWINCH, as in a terminal emulator."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Terminal:
    """A pseudo-terminal of a given size with a process on its slave side."""

    def __init__(self, argv: list[str], cols: int, rows: int) -> None:
        self.master, self.slave = os.openpty()
        set_size(self.slave, cols, rows)
        self.modes = termios.tcgetattr(self.slave)
        self.proc = subprocess.Popen(argv, stdin=self.slave, stdout=self.slave,
                                     stderr=self.slave, close_fds=True,
                                     preexec_fn=_controlling_terminal)
        self.seen = b""

    def read_until(self, predicate, what: str) -> None:
        end = time.monotonic() + DEADLINE
        while not predicate(self.seen):
            if self.proc.poll() is not None:
                self.pump(0)
                raise AssertionError(f"attach exited {self.proc.returncode} before the {what}; "
                                     f"the terminal shows {self.seen[-2000:]!r}")
            if time.monotonic() > end:
                raise AssertionError(f"no {what} within {DEADLINE}s; the terminal shows "
                                     f"{self.seen[-2000:]!r}")
            self.pump(0.2)

    def pump(self, wait: float) -> None:
        ready, _, _ = select.select([self.master], [], [], wait)
        if ready:
            try:
                self.seen += os.read(self.master, 65536)
            except OSError:  # EIO: the slave side is closed
                time.sleep(wait)

    def wait(self) -> int:
        end = time.monotonic() + DEADLINE
        while self.proc.poll() is None:
            if time.monotonic() > end:
                self.proc.kill()
                raise AssertionError(f"attach did not exit; the terminal shows {self.seen[-2000:]!r}")
            self.pump(0.2)
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


def test_attach_over_ssh_shows_the_pane_forwards_the_size_and_detaches(ssh_machine_factory,
                                                                       tmp_path):
    run_id = secrets.token_hex(4)
    session = f"coordssh-{run_id}"
    config = write_config(tmp_path)
    machine = load_config(str(config)).machines["sshbox"]
    Board.open(load_config(str(config)).state_dir).put(
        assignment_for(machine, run_id, launcher="tmux"))
    on_worker(machine, "tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24",
              "printf 'PANE%s\\n' -MARKER; exec sleep 600")
    term = Terminal([sys.executable, "-m", "coordssh", "attach", run_id[:6], "--config",
                     str(config)], cols=101, rows=31)
    try:
        term.read_until(lambda seen: b"PANE-MARKER" in seen, "pane content")
        def client_size() -> list[str]:
            return on_worker(machine, "tmux", "list-clients", "-t", f"={session}", "-F",
                             "#{client_width}x#{client_height}").split()

        assert client_size() == ["101x31"]
        set_size(term.master, 120, 40)  # the window is resized: SIGWINCH, passed on
        wait_for(lambda: client_size() == ["120x40"])
        os.write(term.master, DETACH)
        assert term.wait() == 0
        assert b"detached" in term.seen
        assert termios.tcgetattr(term.slave) == term.modes  # the terminal is restored
        # detaching left the session (the run) alone
        assert on_worker(machine, "tmux", "list-sessions", "-F", "#{session_name}").split() \
            .count(session) == 1
    finally:
        term.close()
        on_worker(machine, "sh", "-c", f"tmux kill-session -t ={session} 2>/dev/null; true")
