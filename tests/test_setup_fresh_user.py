"""A new worker as a new user gets it: a Unix account made for the test (`useradd`, nothing in
its home, no git identity, /bin/sh as its shell), reached over the real sshd as that user with
the config's defaults (`~/.coordssh/...` run and worktree roots, a `~/src/...` repo path).
`coordssh setup` prepares it, a second `setup --check` finds nothing to do, and a run dispatched
there pushes its branch. Needs root (useradd); skipped otherwise, and required in CI by
COORDSSH_REQUIRE_ROOT_TESTS=1.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from coordssh.cli.main import main
from tests.support.dispatch import FAKE_CLAUDE, finished, git, wait_for
from tests.support.sshd import start_sshd
from tests.test_setup import bare_origin

pytestmark = pytest.mark.ssh
HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = Path("/usr/bin/python3")       # the stand-in's interpreter, as the new user


def _unavailable() -> str:
    if os.geteuid() != 0:
        return "needs root to create a user (useradd)"
    if not shutil.which("useradd") or not shutil.which("userdel"):
        return "needs useradd and userdel"
    if not SYSTEM_PYTHON.exists():
        return "needs /usr/bin/python3 for the claude stand-in as the new user"
    return ""


@pytest.fixture
def fresh_user():
    why = _unavailable()
    if why and os.environ.get("COORDSSH_REQUIRE_ROOT_TESTS") == "1":
        pytest.fail(f"COORDSSH_REQUIRE_ROOT_TESTS=1 but {why}")
    if why:
        pytest.skip(why)
    name = f"cs{uuid.uuid4().hex[:8]}"
    # `*`: no password, but not locked (sshd refuses a `!` locked account even for a key)
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", "--password", "*", name],
                   check=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["pkill", "-KILL", "-u", name], check=False)
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)


@pytest.fixture
def shared_dir():
    """A directory the new user can read (pytest's tmp dirs are root's, mode 0700)."""
    base = Path(tempfile.mkdtemp(prefix="coordssh-fresh-"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _stand_in(base: Path) -> Path:
    """The claude stand-in and its fixtures where the new user can run them."""
    (base / "bin").mkdir()
    claude = base / "bin" / "claude"
    claude.write_text(FAKE_CLAUDE.read_text().replace("#!/usr/bin/env python3",
                                                      f"#!{SYSTEM_PYTHON}", 1))
    claude.chmod(0o755)
    shutil.copytree(HERE / "fixtures" / "stream-json", base / "fixtures" / "stream-json")
    subprocess.run(["chmod", "-R", "a+rX", str(base / "fixtures")], check=True)
    return claude


def _origin(base: Path, owner: pwd.struct_passwd) -> Path:
    origin = bare_origin(base)
    subprocess.run(["chown", "-R", f"{owner.pw_uid}:{owner.pw_gid}", str(origin)], check=True)
    return origin


def _config(tmp_path: Path, sshd, user: str, origin: Path, claude: Path) -> Path:
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line())
    path = tmp_path / "coordinator.yml"
    path.write_text("\n".join([
        "repos:", "  - name: demo", f"    url: {origin}",
        "machines:", "  - name: fresh", f"    host: {sshd.host}", "    connection: ssh",
        f"    port: {sshd.port}", f"    user: {user}", f"    identity_file: {sshd.client_key}",
        f"    known_hosts: {known}", "    launcher: tmux", f"    claude_command: {claude}",
        "    connect_timeout: 15", "    repo_paths: {demo: ~/src/demo}", ""]))
    return path


def _cli(capsys, *args: str) -> tuple[int, dict]:
    code = main([*args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def _identity_warned(capsys, config: Path) -> bool:
    """`coordssh doctor` warns that git cannot commit as the machine's user."""
    _, report = _cli(capsys, "doctor", "fresh", "--config", str(config))
    [machine] = report["machines"]
    return any("git has no identity" in p["message"] for p in machine["problems"])


def _steps(report: dict) -> dict[str, dict]:
    return {s["name"]: s for m in report["machines"] for s in m["steps"]}


def _owned_private(path: Path, user: pwd.struct_passwd) -> bool:
    info = path.stat()
    return info.st_uid == user.pw_uid and stat.S_IMODE(info.st_mode) == 0o700


def _origin_heads(origin: Path) -> dict[str, str]:
    out = git("-c", f"safe.directory={origin}", "--git-dir", str(origin), "for-each-ref",
              "--format=%(refname:short) %(objectname)", "refs/heads")
    return dict(line.split() for line in out.splitlines())


def test_a_fresh_user_is_set_up_and_runs_work(fresh_user, shared_dir, tmp_path, capsys):
    sshd = start_sshd(shared_dir / "sshd")
    (shared_dir / "sshd").chmod(0o755)
    try:
        _fresh_user_flow(fresh_user, shared_dir, tmp_path, capsys, sshd)
    finally:
        sshd.stop()


def _fresh_user_flow(user, base, tmp_path, capsys, sshd):
    home = Path(user.pw_dir)
    origin = _origin(base, user)
    config = _config(tmp_path, sshd, user.pw_name, origin, _stand_in(base))

    code, first = _cli(capsys, "setup", "fresh", "--check", "--config", str(config))
    assert first["changes"] >= 2, json.dumps(first, indent=1)
    steps = _steps(first)
    assert steps["worktree_root and run_root"]["state"] == "changed"
    assert steps["repos cloned"]["state"] == "changed"
    assert not (home / ".coordssh").exists()                   # --check changed nothing
    identity = steps["git identity"]
    assert identity["state"] in ("ok", "failed"), identity     # git's own guess, or none
    assert first["ok"] is (identity["state"] == "ok") and code == (0 if first["ok"] else 1)
    if identity["state"] == "failed":
        assert "the agent's commits fail" in identity["items"][0]["message"]

    assert _identity_warned(capsys, config) is (identity["state"] == "failed")   # doctor too

    playbook_dir = tmp_path / "playbooks"
    (playbook_dir / "setup").mkdir(parents=True)
    shipped = (HERE.parent / "coordssh" / "data" / "playbooks" / "setup" / "machine.yml")
    (playbook_dir / "setup" / "machine.yml").write_text(shipped.read_text().replace(
        "    # user_name: coordssh worker          # both given: set as git's global identity when\n"
        "    # user_email: worker@example.invalid  # there is none; neither: a missing one is "
        "reported\n",
        "    user_name: coordssh worker\n    user_email: worker@example.invalid\n"))
    config.write_text(f"playbooks_dir: {playbook_dir}\n" + config.read_text())

    code, applied = _cli(capsys, "setup", "fresh", "--yes", "--config", str(config))
    assert code == 0 and applied["ok"], applied
    for root in (home / ".coordssh" / "worktrees", home / ".coordssh" / "runs"):
        assert _owned_private(root, user), root
    clone = home / "src" / "demo"
    assert (clone / "README.md").read_text() == "# demo\n"
    assert clone.stat().st_uid == user.pw_uid
    gitconfig = home / ".gitconfig"
    if identity["state"] == "failed":                          # set because it was missing
        assert _steps(applied)["git identity"]["state"] == "changed"
        assert "email = worker@example.invalid" in gitconfig.read_text()

    code, again = _cli(capsys, "setup", "fresh", "--check", "--config", str(config))
    assert code == 0 and again["changes"] == 0, again
    assert _identity_warned(capsys, config) is False
    assert {s["state"] for s in _steps(again).values()} <= {"ok", "skipped"}

    code, started = _cli(capsys, "assign", "fresh", "demo", "3", "--title", "Fresh start",
                         "--briefing", "Make the first change.", "--config", str(config))
    assert code == 0, started
    run_dir = Path(started["run_dir"].replace("~", str(home), 1))
    wait_for(lambda: finished(str(run_dir)), 300)
    code, _ = _cli(capsys, "wait", started["id"], "--timeout", "120", "--config", str(config))
    code, shown = _cli(capsys, "status", "--config", str(config))
    [row] = [a for a in shown["assignments"] if a["id"] == started["id"]]
    assert (code, row["status"]) == (0, "done"), row
    assert _owned_private(run_dir, user)
    assert _origin_heads(origin)[started["branch"]] == row["pushed_sha"]
