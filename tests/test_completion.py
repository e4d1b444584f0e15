"""Shell completion through typer: the script it prints, and bash really completing with it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def coordssh_on_path(tmp_path: Path) -> dict:
    """PATH with a `coordssh` that runs this checkout (what the completion script calls)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "coordssh"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m coordssh "$@"\n')
    wrapper.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "PYTHONPATH": f"{REPO_ROOT}:{os.environ.get('PYTHONPATH', '')}"}


def test_show_completion_prints_a_bash_script(tmp_path):
    env = coordssh_on_path(tmp_path)
    done = subprocess.run(["coordssh", "--show-completion", "bash"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "_COORDSSH_COMPLETE=complete_bash" in done.stdout
    assert "complete -o default -F _coordssh_completion coordssh" in done.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
@pytest.mark.parametrize(("words", "expected"), [
    ("coordssh se", {"setup"}),
    ("coordssh status --ma", {"--machine"}),
    ("coordssh rep", {"report"}),
])
def test_bash_completes_commands_and_options_with_that_script(tmp_path, words, expected):
    env = coordssh_on_path(tmp_path)
    script = subprocess.run(["coordssh", "--show-completion", "bash"], env=env,
                            capture_output=True, text=True, timeout=60, check=True).stdout
    (tmp_path / "completion.bash").write_text(script)
    count = len(words.split())
    probe = (f'source {tmp_path / "completion.bash"}\n'
             f'COMP_WORDS=({words}); COMP_CWORD={count - 1}\n'
             '_coordssh_completion coordssh\nprintf "%s\\n" "${COMPREPLY[@]}"\n')
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", probe], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == expected
