"""GitHubForge against the fake gh (a real process), GitForge against real git repos."""

from __future__ import annotations

import subprocess

import pytest

from coordssh.config.schema import Repo
from coordssh.errors import ForgeAuthFailed, ForgeError, ForgeNotFound, ForgeRateLimited
from coordssh.forge import GitForge, GitHubForge, Issue, forge_for, local_issue
from coordssh.forge.gh_errors import translate
from coordssh.forge.github import gh_environment
from coordssh.forge.pacing import Backoff, Pacer
from tests.support.fake_gh import FakeGitHub

HOSTILE_TITLE = "Fix \"quotes\" & 'apostrophes' $(touch /tmp/pwned) `id` ; rm -rf ~ | ünïcødé ✓"
HOSTILE_BODY = ("Line one\n\n$(echo hi) `uname`\r\n\t--repo x/y --json evil\n"
                "${HOME} \\n not-a-newline \x1b[31m 日本語 🚀\n")


@pytest.fixture
def fake(tmp_path):
    fake = FakeGitHub(tmp_path)
    fake.add_label("ready")
    fake.add_issue(7, "Add retry", "Do it\n", labels=("ready",))
    return fake


def forge(fake, retries=0):
    """No retry by default: these tests see the translated error itself."""
    return GitHubForge(Repo("api", github="o/r"), gh=fake.gh, env=fake.env,
                       backoff=Backoff(base=0.01, retries=retries), pacer=Pacer(0))


async def test_issue_view(fake):
    issue = await forge(fake).issue_view(7)
    assert issue == Issue(7, "Add retry", "Do it\n", ("ready",), "https://github.com/o/r/issues/7",
                          "OPEN")
    assert fake.calls()[-1]["argv"] == ["issue", "view", "7", "--repo", "o/r", "--json",
                                        "number,title,body,labels,url,state"]


async def test_missing_issue_names_the_number(fake):
    with pytest.raises(ForgeNotFound) as err:
        await forge(fake).issue_view(99)
    assert "#99" in err.value.message and "o/r" in err.value.message
    assert "gh issue list --repo o/r" in err.value.hint


async def test_bad_credentials_and_no_token(fake):
    fake.update(auth="bad")
    with pytest.raises(ForgeAuthFailed) as err:
        await forge(fake).issue_view(7)
    assert "Bad credentials" in err.value.message and "gh auth login" in err.value.hint
    assert await forge(fake).auth_status() is False
    fake.update(auth="none")
    with pytest.raises(ForgeAuthFailed) as err:
        await forge(fake).issue_view(7)
    assert "not logged in" in err.value.message and err.value.exit_code == 4


@pytest.mark.parametrize("kind", ["secondary", "primary"])
async def test_rate_limited(fake, kind):
    fake.update(faults=[{"kind": kind, "times": 1}])
    with pytest.raises(ForgeRateLimited) as err:
        await forge(fake).issue_view(7)
    assert "rate limit" in err.value.message and "wait" in err.value.hint
    assert err.value.retry_after >= 60
    assert (await forge(fake).issue_view(7)).number == 7  # the fault was used up


async def test_rate_limit_is_backed_off_and_retried_a_bounded_number_of_times(fake):
    fake.update(faults=[{"kind": "secondary", "times": 2}])
    assert (await forge(fake, retries=2).issue_view(7)).number == 7
    assert len(fake.calls()) == 3
    fake.update(faults=[{"kind": "primary", "times": 5}])
    with pytest.raises(ForgeRateLimited):
        await forge(fake, retries=2).issue_view(7)
    assert len(fake.calls()) == 6


async def test_hostile_text_round_trips_byte_identical(fake):
    fake.add_issue(8, HOSTILE_TITLE, HOSTILE_BODY)
    issue = await forge(fake).issue_view(8)
    assert issue.title.encode() == HOSTILE_TITLE.encode()
    assert issue.body.encode() == HOSTILE_BODY.encode()


async def test_gh_not_installed(fake, tmp_path):
    missing = GitHubForge(Repo("api", github="o/r"), gh=str(tmp_path / "no-gh"), env=fake.env)
    with pytest.raises(ForgeError) as err:
        await missing.issue_view(7)
    assert "not found" in err.value.message and "cli.github.com" in err.value.hint


async def test_auth_status_and_version(fake):
    assert await forge(fake).auth_status() is True
    assert fake.calls()[-1]["argv"] == ["auth", "status", "--hostname", "github.com"]
    assert await forge(fake).version() == (2, 23, 0)


def test_environment_is_non_interactive_and_keeps_tokens():
    env = gh_environment({"GH_TOKEN": "t0k", "GH_FORCE_TTY": "1", "GH_REPO": "x/y", "PATH": "/bin"})
    assert env["GH_TOKEN"] == "t0k" and env["GH_PROMPT_DISABLED"] == "1"
    assert "GH_FORCE_TTY" not in env and "GH_REPO" not in env


def test_translate_other_texts():
    newer = translate(1, "Could not resolve to an Issue with the number of 12.", action="x",
                      repo="o/r")
    assert isinstance(newer, ForgeNotFound) and "#12" in newer.message
    repo = translate(1, "GraphQL: Could not resolve to a Repository with the name 'o/r'. "
                        "(repository)", action="x", repo="o/r")
    assert isinstance(repo, ForgeNotFound) and "repository o/r" in repo.message
    quick = translate(1, "GraphQL: was submitted too quickly (addComment)", action="x", repo="o/r")
    assert isinstance(quick, ForgeRateLimited)
    other = translate(1, "boom\nmore", action="view issue #1", repo="o/r")
    assert type(other) is ForgeError and other.message.endswith(": boom")


# --- plain git ---------------------------------------------------------------------------------
def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)


@pytest.fixture
def clone(tmp_path):
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    git("init", "--bare", "-b", "main", str(origin), cwd=tmp_path)
    git("clone", str(origin), str(work), cwd=tmp_path)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "--allow-empty", "-m", "init",
        cwd=work)
    for branch in ("main", "issue-7-add-retry", "issue-70-other", "feature"):
        git("push", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
    return work


async def test_git_forge_remote_heads(clone):
    heads = await GitForge(Repo("api"), clone).remote_heads("issue-7-*")
    sha = git("rev-parse", "HEAD", cwd=clone).stdout.strip()
    assert heads == {"issue-7-add-retry": sha}
    assert await GitForge(Repo("api"), clone).remote_heads("issue-9-*") == {}


async def test_git_forge_bad_remote(clone):
    with pytest.raises(ForgeError) as err:
        await GitForge(Repo("api"), clone).remote_heads(remote="nowhere")
    assert "ls-remote nowhere" in err.value.message


async def test_git_forge_issues_come_from_the_operator(clone):
    forge = forge_for(Repo("api"), path=clone, issues=[local_issue(1, "Add a greeting", "Say hi")])
    assert isinstance(forge, GitForge)
    assert (await forge.issue_view(1)).body == "Say hi"
    with pytest.raises(ForgeNotFound) as err:
        await forge.issue_view(2)
    assert "--title" in err.value.hint
    assert await forge.auth_status() is True
    assert (await forge.version())[0] >= 2
    assert isinstance(forge_for(Repo("api", github="o/r")), GitHubForge)


def test_backoff_doubles_with_bounded_jitter_and_a_cap():
    backoff = Backoff(base=60, retries=3, cap=200)
    assert [backoff.delay(n, rng=lambda: 0.0) for n in range(3)] == [60, 120, 200]
    assert backoff.delay(0, rng=lambda: 1.0) == 90          # +50 % at most
    assert 60 <= Backoff().delay(0) <= 90


async def test_pacer_spaces_mutations_apart():
    clock, slept = [100.0], []

    async def sleep(seconds):
        slept.append(seconds)

    pacer = Pacer(1.0, clock=lambda: clock[0], sleep=sleep)
    for _ in range(3):
        await pacer.wait()
    assert slept == [1.0, 2.0]                               # 0 s, then booked 1 s apart
    clock[0] += 10
    await pacer.wait()
    assert slept == [1.0, 2.0]                               # idle long enough: no wait
