"""`coordssh init`'s service: repository detection on real git repos, and the file it writes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from coordssh.config.load import load_config
from coordssh.errors import ConfigError, UsageError
from coordssh.services.init import (
    FoundRepo,
    InitPlan,
    config_target,
    default_launcher,
    default_plan,
    detect_repos,
    write_config,
)

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def clone_with_bare_origin(where: Path, name: str, branch: str = "trunk") -> Path:
    """A bare origin whose HEAD is `branch`, with one commit, cloned to where/name."""
    origin = where / "origins" / f"{name}.git"
    seed = where / "seeds" / name
    git("init", "-q", "--bare", "-b", branch, str(origin))
    git("init", "-q", "-b", branch, str(seed))
    (seed / "README").write_text("hi\n")
    git("add", "README", cwd=seed)
    git("commit", "-qm", "first", cwd=seed)
    git("push", "-q", str(origin), branch, cwd=seed)
    git("clone", "-q", str(origin), str(where / name))
    return where / name


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home" / "src").mkdir(parents=True)
    return tmp_path / "home"


def test_detects_cwd_subdirs_and_home_src(tmp_path, home):
    work = tmp_path / "work"
    work.mkdir()
    api = clone_with_bare_origin(work, "api")
    git("remote", "set-url", "origin", "git@github.com:acme/api.git", cwd=api)
    web = home / "src" / "web"
    git("init", "-q", "-b", "dev", str(web))
    git("remote", "add", "origin", "https://github.com/acme/web.git", cwd=web)
    (work / "notes").mkdir()                     # not a repository
    git("init", "-q", str(work / ".hidden"))     # hidden: skipped

    found = detect_repos(work, home)
    assert [r.name for r in found] == ["api", "web"]
    api_found, web_found = found
    assert api_found == FoundRepo(name="api", path=api.resolve(), origin_url="git@github.com:acme/api.git",
                                  github="acme/api", default_branch="trunk")
    assert (web_found.github, web_found.default_branch) == ("acme/web", "dev")


def test_plain_origin_has_no_github(tmp_path, home):
    repo = clone_with_bare_origin(tmp_path, "lib", branch="stable")
    (found,) = detect_repos(repo, home)           # cwd is itself the repository
    assert found.origin_url == str(tmp_path / "origins" / "lib.git")
    assert (found.github, found.default_branch) == (None, "stable")


def test_detached_head_without_origin_defaults_to_main(tmp_path, home):
    repo = clone_with_bare_origin(tmp_path, "x")
    git("remote", "remove", "origin", cwd=repo)
    git("checkout", "-q", "--detach", cwd=repo)
    (found,) = detect_repos(repo, home)
    assert (found.origin_url, found.default_branch) == (None, "main")


def test_same_repo_twice_is_listed_once_and_same_names_get_suffixes(tmp_path, home):
    git("init", "-q", str(home / "src" / "api"))
    git("init", "-q", str(tmp_path / "api"))
    assert [r.name for r in detect_repos(home / "src", home)] == ["api"]
    found = detect_repos(tmp_path, home)
    assert [(r.name, r.path) for r in found] == [("api", (tmp_path / "api").resolve()),
                                                 ("api-2", (home / "src" / "api").resolve())]


def test_default_plan_takes_every_repo(tmp_path, home):
    git("init", "-q", str(home / "src" / "api"))
    plan = default_plan(tmp_path, home, which=lambda name: None)
    assert plan == InitPlan(repos=plan.repos, machine="localhost", max_workers=2, launcher="nohup")
    assert [r.name for r in plan.repos] == ["api"]


def test_default_plan_without_repos_names_the_fix(tmp_path, home):
    with pytest.raises(UsageError) as info:
        default_plan(tmp_path, home)
    assert info.value.message == f"no git repositories in {tmp_path}, its subdirectories or {home / 'src'}"
    assert "coordinator.example.yml" in info.value.hint


def test_launcher_is_tmux_only_when_installed():
    assert default_launcher(which=lambda name: "/usr/bin/tmux" if name == "tmux" else None) == "tmux"
    assert default_launcher(which=lambda name: None) == "nohup"


def test_written_file_loads(tmp_path, home):
    api = clone_with_bare_origin(home / "src", "api")
    git("remote", "set-url", "origin", "https://github.com/acme/api", cwd=api)
    git("init", "-q", str(tmp_path / "true"))     # a name YAML would read as a boolean
    plan = InitPlan(repos=tuple(detect_repos(tmp_path, home)), machine="laptop", max_workers=3,
                    launcher="tmux")
    config = write_config(plan, config_target(tmp_path, force=False), home=home)

    assert config == load_config(tmp_path / "coordinator.yml", environ={})
    assert list(config.repos) == ["true", "api"]
    assert config.repo("api").github == "acme/api" and config.repo("api").default_branch == "trunk"
    laptop = config.machine("laptop")
    assert (laptop.connection, laptop.host, laptop.launcher, laptop.max_workers) == ("local", "localhost",
                                                                                     "tmux", 3)
    assert laptop.repo_paths == {"true": str((tmp_path / "true").resolve()), "api": "~/src/api"}
    assert "# coordinator.yml, written by `coordssh init`" in (tmp_path / "coordinator.yml").read_text()


def test_never_overwrites_without_force(tmp_path):
    (tmp_path / "coordinator.yml").write_text("mine\n")
    with pytest.raises(UsageError) as info:
        config_target(tmp_path, force=False)
    assert info.value.message == f"{tmp_path.resolve() / 'coordinator.yml'} already exists"
    assert info.value.hint.startswith("pass --force")
    assert config_target(tmp_path, force=True) == tmp_path.resolve() / "coordinator.yml"


def test_a_bad_answer_leaves_the_file_alone(tmp_path, home):
    git("init", "-q", str(tmp_path / "api"))
    (tmp_path / "coordinator.yml").write_text("mine\n")
    plan = InitPlan(repos=tuple(detect_repos(tmp_path, home)), machine="my laptop")
    with pytest.raises(ConfigError) as info:
        write_config(plan, config_target(tmp_path, force=True), home=home)
    assert info.value.problems == [
        "coordinator.yml:9: machines[0].name: 'my laptop' is not a valid name (letters, digits, '.', '_' "
        "and '-', starting with a letter or digit)"]
    assert (tmp_path / "coordinator.yml").read_text() == "mine\n"


def test_no_repos_chosen_is_refused(tmp_path, home):
    with pytest.raises(UsageError, match="no repositories chosen"):
        write_config(InitPlan(repos=()), tmp_path / "coordinator.yml", home=home)
