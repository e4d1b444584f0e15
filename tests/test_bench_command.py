"""The documented benchmark command works as written: `bash bench/run.sh` as root (no sudo
needed), and run by another user it re-execs itself with sudo, or says that it needs root."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "bench" / "run.sh"


def documented_lines() -> list[str]:
    found = []
    for doc in (ROOT / "README.md", ROOT / "docs" / "performance.md"):
        found += [m.group(0) for m in re.finditer(r"[^\n`]*bench/run\.sh[^\n`]*", doc.read_text())]
    return found


def test_the_docs_give_the_command_that_works_for_root_as_written() -> None:
    lines = documented_lines()
    assert lines
    assert not [line for line in lines if "sudo bash bench/run.sh" in line], lines


@pytest.mark.skipif(os.geteuid() != 0, reason="as root")
def test_as_root_it_runs_without_sudo() -> None:
    env = {**os.environ, "PATH": "/usr/local/bin:/usr/bin:/bin"}  # wherever sudo is or is not
    done = subprocess.run(["bash", str(RUN), "--help"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "usage: run.py" in done.stdout


SYSTEM_PATH = "/usr/bin:/bin"


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv")
                    or shutil.which("sudo", path=SYSTEM_PATH) is not None,
                    reason="needs root to drop to another user, and no sudo")
def test_another_user_without_sudo_is_told_it_needs_root(tmp_path: Path) -> None:
    done = subprocess.run([shutil.which("setpriv"), "--reuid=65534", "--regid=65534",
                           "--clear-groups", "bash", str(RUN), "--help"], capture_output=True,
                          text=True, timeout=120, env={"PATH": SYSTEM_PATH}, cwd="/")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "needs root" in done.stderr and "sudo" in done.stderr
