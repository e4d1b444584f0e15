"""The one place errors become exit codes: coordssh.cli.main.main."""

import os
import subprocess
import sys

from coordssh import __version__
from coordssh.cli.main import main
from coordssh.errors import (AuthFailed, ConfigError, HostKeyUnknown, NotFound, Refused,
                             RemoteCommandFailed, Unreachable, WaitTimeout)


def test_version_fast_path(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"coordssh {__version__}\n"
    assert main(["version"]) == 0


def test_exit_codes_of_the_error_tree():
    assert ConfigError("x").exit_code == 2
    assert NotFound("x").exit_code == 2
    assert Refused("x").exit_code == 1
    assert RemoteCommandFailed("x").exit_code == 1
    assert Unreachable("x").exit_code == 3
    assert WaitTimeout("x").exit_code == 3
    assert AuthFailed("x").exit_code == 4
    assert HostKeyUnknown("x").exit_code == 4


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["no-such-command"]) == 2
    assert "no-such-command" in capsys.readouterr().err


def test_missing_config_names_cause_and_fix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COORDSSH_CONFIG", raising=False)
    proc = subprocess.run([sys.executable, "-m", "coordssh", "config", "--check"],
                          capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "HOME": str(tmp_path)})
    assert proc.returncode == 2
    assert "no coordinator.yml" in proc.stderr
    assert "hint:" in proc.stderr
