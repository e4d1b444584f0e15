"""Debian's chromium, headless, for tests that must see a page rendered (the HTML report).

`chromium` fixture: the browser's path. Missing: the test is skipped with the install command,
or fails when COORDSSH_REQUIRE_CHROMIUM=1 (.ci/run installs it and sets that).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
GUARD_S = 120


@pytest.fixture
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    why = "chromium is not installed: apt-get install -y chromium"
    if os.environ.get("COORDSSH_REQUIRE_CHROMIUM"):
        pytest.fail(why)
    pytest.skip(why)


def run_chromium(browser: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """chromium with its own throwaway profile, offline flags, and `args` (--screenshot=...)."""
    argv = [browser, *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
    return subprocess.run(argv, capture_output=True, text=True, timeout=GUARD_S,
                          stdin=subprocess.DEVNULL)
