"""The fake gh follows the contract (/work/shared/contracts/gh.md §8): run it as a real process."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.fake_gh import FAKE_GH, FakeGitHub


@pytest.fixture
def fake(tmp_path):
    fake = FakeGitHub(tmp_path)
    fake.add_label("ready", description="Ready for a worker")
    fake.add_label("bug", color="d73a4a")
    fake.add_issue(1, "Add retry to worker", "Steps:\n\n1. do it", labels=("ready", "bug"))
    fake.add_issue(2, "Write docs", labels=("ready",))
    fake.add_issue(3, "Old one", state="CLOSED")
    return fake


def gh(fake, *args, stdin=None):
    return subprocess.run([fake.gh, *args], input=stdin.encode() if stdin is not None else None,
                          capture_output=True, env=fake.env, timeout=30)


def test_version_line():
    out = subprocess.run([str(FAKE_GH), "--version"], capture_output=True, timeout=30)
    assert out.returncode == 0
    assert out.stdout.decode().splitlines()[0] == "gh version 2.23.0 (2023-02-27 Debian 2.23.0+dfsg1-1)"


def test_issue_view_is_one_compact_line_with_exactly_the_requested_sorted_keys(fake):
    out = gh(fake, "issue", "view", "1", "--repo", "o/r", "--json", "title,number,labels,url,state")
    assert out.returncode == 0 and out.stderr == b""
    text = out.stdout.decode()
    assert text.endswith("\n") and text.count("\n") == 1 and ": " not in text
    data = json.loads(text)
    assert list(data) == ["labels", "number", "state", "title", "url"]
    assert data["labels"][0] == {"id": "LA_fake_ready", "name": "ready",
                                 "description": "Ready for a worker", "color": "0e8a16"}
    assert data["url"] == "https://github.com/o/r/issues/1" and data["state"] == "OPEN"


@pytest.mark.parametrize("args", [
    ["issue", "view", "-R", "o/r", "2", "--json", "number"],
    ["issue", "view", "--json=number", "--repo=o/r", "2"],
    ["issue", "view", "https://github.com/o/r/issues/2", "--repo", "github.com/o/r", "--json", "number"],
])
def test_flags_in_any_order_and_both_repo_spellings(fake, args):
    out = gh(fake, *args)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b'{"number":2}\n'


def test_missing_issue_and_missing_repo_texts(fake):
    out = gh(fake, "issue", "view", "42", "--repo", "o/r", "--json", "number")
    assert (out.returncode, out.stdout) == (1, b"")
    assert out.stderr.decode() == ("GraphQL: Could not resolve to an issue or pull request with "
                                   "the number of 42. (repository.issue)\n")
    out = gh(fake, "issue", "view", "1", "--repo", "x/y", "--json", "number")
    assert out.returncode == 1
    assert "Could not resolve to a Repository with the name 'x/y'." in out.stderr.decode()


def test_usage_errors(fake):
    assert gh(fake, "issue", "view", "--repo", "o/r").stderr == \
        b"argument required when using the --repo flag\n"
    out = gh(fake, "issue", "view", "1", "--repo", "o/r", "--json", "number,nope")
    assert out.returncode == 1
    assert out.stderr.decode().startswith('Unknown JSON field: "nope"\nAvailable fields:\n')
    assert gh(fake, "issue", "view", "1", "--frobnicate").stderr.startswith(
        b"unknown flag: --frobnicate")


def test_jq_simple_paths_and_rejects_the_rest(fake):
    out = gh(fake, "issue", "list", "--repo", "o/r", "--json", "number,title", "--jq", ".[].title")
    assert out.stdout.decode() == "Write docs\nAdd retry to worker\n"
    out = gh(fake, "issue", "view", "1", "-R", "o/r", "--json", "labels", "-q", ".labels[0].name")
    assert out.stdout == b"ready\n"
    out = gh(fake, "issue", "list", "-R", "o/r", "--json", "number", "--jq", "map(.number)")
    assert out.returncode == 1 and b"unsupported --jq expression" in out.stderr


def test_issue_list_state_labels_and_empty(fake):
    rows = json.loads(gh(fake, "issue", "list", "-R", "o/r", "--label", "ready", "--label", "bug",
                         "--json", "number").stdout)
    assert rows == [{"number": 1}]
    rows = json.loads(gh(fake, "issue", "list", "-R", "o/r", "--state", "all", "--json",
                         "number").stdout)
    assert [r["number"] for r in rows] == [3, 2, 1]
    assert gh(fake, "issue", "list", "-R", "o/r", "--label", "nobody",
              "--json", "number").stdout == b"[]\n"


def test_issue_list_label_search_lags_behind_issue_view(fake):
    fake.add_issue(4, "Fresh", labels=("ready",), search_labels=[])
    listed = json.loads(gh(fake, "issue", "list", "-R", "o/r", "-l", "ready", "--json",
                           "number").stdout)
    assert {"number": 4} not in listed
    viewed = json.loads(gh(fake, "issue", "view", "4", "-R", "o/r", "--json", "labels").stdout)
    assert [label["name"] for label in viewed["labels"]] == ["ready"]


def test_comment_reads_stdin_verbatim_prints_url_and_logs(fake):
    body = "line 1\r\nit's \"$(rm -rf /)\" `x` é\n"
    out = gh(fake, "issue", "comment", "2", "--body-file", "-", "--repo", "o/r", stdin=body)
    assert out.returncode == 0 and out.stderr == b""
    assert out.stdout.decode().startswith("https://github.com/o/r/issues/2#issuecomment-")
    assert fake.issue(2)["comments"][0]["body"] == body
    assert fake.calls()[-1] == {"argv": ["issue", "comment", "2", "--body-file", "-", "--repo",
                                         "o/r"], "stdin": body}
    assert gh(fake, "issue", "comment", "2", "-F", "-", "-R", "o/r", stdin=" \n").returncode == 1


def test_edit_labels_repeatable_and_comma_separated(fake):
    out = gh(fake, "issue", "edit", "2", "-R", "o/r", "--add-label", "bug", "--remove-label",
             "ready,nothing")
    assert out.stdout == b"https://github.com/o/r/issues/2\n"
    assert fake.issue(2)["labels"] == ["bug"]
    out = gh(fake, "issue", "edit", "2", "-R", "o/r", "--add-label", "ghost")
    assert (out.returncode, out.stderr) == (1, b"'ghost' not found\n")


def test_auth_states(fake):
    assert gh(fake, "auth", "status").returncode == 0
    fake.update(auth="bad")
    out = gh(fake, "issue", "view", "1", "-R", "o/r", "--json", "number")
    assert out.returncode == 1
    assert out.stderr.decode().startswith("HTTP 401: Bad credentials (https://api.github.com/graphql)")
    assert gh(fake, "auth", "status").returncode == 1
    fake.update(auth="none")
    out = gh(fake, "issue", "view", "1", "-R", "o/r", "--json", "number")
    assert out.returncode == 4
    assert out.stderr.decode().startswith("To get started with GitHub CLI, please run:  gh auth login")
    out = gh(fake, "auth", "status")
    assert out.returncode == 1 and b"You are not logged into any GitHub hosts" in out.stderr


def test_faults_fire_the_given_number_of_times(fake):
    fake.update(faults=[{"kind": "secondary", "command": "issue view", "times": 1},
                        {"kind": "too_quickly"}])
    first = gh(fake, "issue", "view", "1", "-R", "o/r", "--json", "number")
    assert first.returncode == 1 and b"secondary rate limit" in first.stderr
    assert gh(fake, "issue", "view", "1", "-R", "o/r", "--json", "number").returncode == 0
    out = gh(fake, "issue", "comment", "1", "-R", "o/r", "--body", "hi")
    assert out.stderr == b"GraphQL: was submitted too quickly (addComment)\n"


# --- pull requests on a real bare origin (contract §3, §4) --------------------------------------
@pytest.fixture
def world(tmp_path, fake):
    from tests.support.dispatch import GitWorld

    world = GitWorld.create(tmp_path / "world")
    fake.attach_origin(world.origin)
    return world


def push(world, branch, files):
    from tests.support.dispatch import git

    git("checkout", "-q", "-B", branch, "origin/main", cwd=world.seed)
    for path, text in files.items():
        (world.seed / path).write_text(text)
    git("add", ".", cwd=world.seed)
    git("commit", "-q", "-m", f"on {branch}", cwd=world.seed)
    git("push", "-q", "-f", "origin", branch, cwd=world.seed)
    git("checkout", "-q", "main", cwd=world.seed)
    return git("rev-parse", branch, cwd=world.seed).strip()


def create(fake, branch, *extra, body="Closes #1\n"):
    return gh(fake, "pr", "create", "--repo", "o/r", "--head", branch, "--base", "main",
              "--title", "T", "--body-file", "-", *extra, stdin=body)


def test_pr_create_prints_the_url_and_refuses_a_second_open_pr(fake, world):
    push(world, "feat", {"a.txt": "a\n"})
    out = create(fake, "feat")
    assert (out.returncode, out.stdout, out.stderr) == (0, b"https://github.com/o/r/pull/4\n", b"")
    again = create(fake, "feat")
    assert (again.returncode, again.stdout) == (1, b"")
    assert again.stderr.decode() == ('a pull request for branch "feat" into branch "main" already '
                                     "exists:\nhttps://github.com/o/r/pull/4\n")


def test_pr_create_without_the_branch_or_without_commits(fake, world):
    out = create(fake, "ghost")
    assert out.returncode == 1 and out.stderr.decode() == (
        "pull request create failed: GraphQL: Head sha can't be blank, Base sha can't be blank, "
        "No commits between main and ghost, Head ref must be a branch (createPullRequest)\n")
    from tests.support.dispatch import git

    git("push", "-q", "origin", "main:refs/heads/same", cwd=world.seed)
    out = create(fake, "same")
    assert out.stderr == (b"pull request create failed: GraphQL: No commits between main and "
                          b"same (createPullRequest)\n")
    out = gh(fake, "pr", "create", "-R", "o/r", "--head", "same", "--title", "T")
    assert out.stderr.startswith(b"must provide `--title` and `--body` (or `--fill`)")


def test_pr_view_keys_sorted_compact_with_git_truth(fake, world):
    sha = push(world, "feat", {"a.txt": "a\nb\n"})
    create(fake, "feat")
    out = gh(fake, "pr", "view", "4", "-R", "o/r", "--json",
             "url,state,mergeable,headRefOid,files,statusCheckRollup,reviewDecision,isDraft")
    text = out.stdout.decode()
    assert out.returncode == 0 and text.count("\n") == 1 and ": " not in text
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert data == {"files": [{"path": "a.txt", "additions": 2, "deletions": 0}],
                    "headRefOid": sha, "isDraft": False, "mergeable": "MERGEABLE",
                    "reviewDecision": "", "state": "OPEN", "statusCheckRollup": [],
                    "url": "https://github.com/o/r/pull/4"}


def test_pr_view_number_alone_needs_no_pr_and_a_missing_pr_is_not_resolved(fake, world):
    assert gh(fake, "pr", "view", "77", "-R", "o/r", "--json", "number").stdout == b'{"number":77}\n'
    out = gh(fake, "pr", "view", "77", "-R", "o/r", "--json", "number,state")
    assert out.returncode == 1 and out.stderr == (
        b"GraphQL: Could not resolve to a PullRequest with the number of 77. "
        b"(repository.pullRequest)\n")


def test_pr_list_by_head_newest_first(fake, world):
    push(world, "feat", {"a.txt": "a\n"})
    create(fake, "feat")
    fake.set_pull(4, state="CLOSED")
    create(fake, "feat")
    rows = json.loads(gh(fake, "pr", "list", "-R", "o/r", "--head", "feat", "--state", "all",
                         "--json", "number,state,headRefName").stdout)
    assert rows == [{"headRefName": "feat", "number": 5, "state": "OPEN"},
                    {"headRefName": "feat", "number": 4, "state": "CLOSED"}]
    assert gh(fake, "pr", "list", "-R", "o/r", "--head", "nope", "--json", "number").stdout == b"[]\n"


def test_merge_is_real_silent_deletes_the_branch_and_closes_the_issue(fake, world):
    push(world, "feat", {"a.txt": "a\n"})
    create(fake, "feat")
    out = gh(fake, "pr", "merge", "4", "-R", "o/r", "--squash", "--delete-branch")
    assert (out.returncode, out.stdout, out.stderr) == (0, b"", b"")
    assert "feat" not in world.heads()
    from tests.support.dispatch import git

    assert git("show", "main:a.txt", cwd=world.origin) == "a\n"
    assert git("log", "-1", "--format=%s", "main", cwd=world.origin).strip() == "T (#4)"
    assert fake.issue(1)["state"] == "CLOSED"
    pr = json.loads(gh(fake, "pr", "view", "4", "-R", "o/r", "--json", "state,files").stdout)
    assert pr == {"files": [{"path": "a.txt", "additions": 1, "deletions": 0}], "state": "MERGED"}
    again = gh(fake, "pr", "merge", "4", "-R", "o/r", "--squash")
    assert (again.returncode, again.stderr) == (0, b"! Pull request #4 was already merged\n")


def test_merge_refusals_texts(fake, world):
    push(world, "one", {"README.md": "one\n"})
    push(world, "two", {"README.md": "two\n"})
    create(fake, "one")
    create(fake, "two")
    assert gh(fake, "pr", "merge", "4", "-R", "o/r", "--merge").returncode == 0
    out = gh(fake, "pr", "merge", "5", "-R", "o/r", "--merge")
    assert out.returncode == 1 and out.stderr.decode() == (
        "X Pull request #5 is not mergeable: the merge commit cannot be cleanly created.\n"
        "To have the pull request merged after all the requirements have been met, add the "
        "`--auto` flag.\n")
    out = gh(fake, "pr", "merge", "5", "-R", "o/r")
    assert out.stderr.startswith(b"--merge, --rebase, or --squash required when not running "
                                 b"interactively\n")
    assert gh(fake, "pr", "merge", "-R", "o/r", "--merge").stderr == \
        b"argument required when using the --repo flag\n"
    push(world, "three", {"c.txt": "c\n"})
    create(fake, "three")
    out = gh(fake, "pr", "merge", "6", "-R", "o/r", "--rebase", "--match-head-commit", "0" * 40)
    assert out.stderr == (b"GraphQL: Head branch was modified. Review and try the merge again. "
                          b"(mergePullRequest)\n")
    fake.set_pull(6, blocked=True)
    out = gh(fake, "pr", "merge", "6", "-R", "o/r", "--rebase")
    assert out.stderr.decode().startswith("X Pull request #6 is not mergeable: the base branch "
                                          "policy prohibits the merge.\n")
    fake.set_pull(6, blocked=False, mergeable_unknown=1)
    out = gh(fake, "pr", "merge", "6", "-R", "o/r", "--rebase")
    assert out.stderr == b"GraphQL: Pull Request is not mergeable (mergePullRequest)\n"
    assert gh(fake, "pr", "merge", "6", "-R", "o/r", "--rebase").returncode == 0  # settled


def test_review_self_refusal_and_comment_url(fake, world):
    push(world, "feat", {"a.txt": "a\n"})
    create(fake, "feat")
    out = gh(fake, "pr", "review", "4", "-R", "o/r", "--approve", "--body-file", "-", stdin="ok")
    assert out.returncode == 1 and out.stderr == (
        b"failed to create review: GraphQL: Review Can not approve your own pull request "
        b"(addPullRequestReview)\n")
    out = gh(fake, "pr", "review", "4", "-R", "o/r", "-r", "-b", "no")
    assert b"Can not request changes on your own pull request" in out.stderr
    fake.set_pull(4, author="alice")
    out = gh(fake, "pr", "review", "4", "-R", "o/r", "--request-changes", "-b", "fix it")
    assert (out.returncode, out.stdout) == (0, b"")
    view = json.loads(gh(fake, "pr", "view", "4", "-R", "o/r", "--json", "reviewDecision").stdout)
    assert view == {"reviewDecision": "CHANGES_REQUESTED"}
    out = gh(fake, "pr", "comment", "4", "-R", "o/r", "--body-file", "-", stdin="hi")
    assert out.stdout.decode().startswith("https://github.com/o/r/pull/4#issuecomment-")


def test_api_delete_ref(fake, world):
    push(world, "feat", {"a.txt": "a\n"})
    out = gh(fake, "api", "-X", "DELETE", "repos/o/r/git/refs/heads/feat")
    assert (out.returncode, out.stdout) == (0, b"") and "feat" not in world.heads()
    out = gh(fake, "api", "-X", "DELETE", "repos/o/r/git/refs/heads/feat")
    assert out.returncode == 1 and out.stderr == b"gh: Reference does not exist (HTTP 422)\n"
    assert json.loads(out.stdout)["message"] == "Reference does not exist"


def test_issue_create_close_and_edit_body(fake):
    out = gh(fake, "issue", "create", "-R", "o/r", "--title", "Child", "--body-file", "-",
             "--label", "bug", stdin="part\n")
    assert out.stdout == b"https://github.com/o/r/issues/4\n"
    assert fake.issue(4)["labels"] == ["bug"] and fake.issue(4)["body"] == "part\n"
    out = gh(fake, "issue", "create", "-R", "o/r", "-t", "x", "-b", "y", "-l", "ghost")
    assert (out.returncode, out.stderr) == (1, b"could not add label: 'ghost' not found\n")
    out = gh(fake, "issue", "edit", "1", "-R", "o/r", "--body-file", "-", stdin="new body")
    assert out.stdout == b"https://github.com/o/r/issues/1\n" and fake.issue(1)["body"] == "new body"
    assert gh(fake, "issue", "close", "4", "-R", "o/r").returncode == 0
    out = gh(fake, "issue", "close", "4", "-R", "o/r")
    assert (out.returncode, out.stderr) == (0, b"! Issue #4 (Child) is already closed\n")


def test_rate_limit_texts_per_command(fake, world):
    push(world, "feat", {"a.txt": "a\n"})
    fake.rate_limit(1, "too_quickly", "pr create")
    out = create(fake, "feat")
    assert out.stderr == (b"pull request create failed: GraphQL: was submitted too quickly "
                          b"(createPullRequest)\n")
    assert create(fake, "feat").returncode == 0
    fake.rate_limit(1, "too_quickly")                 # reads are never "too quickly"
    assert gh(fake, "pr", "view", "4", "-R", "o/r", "--json", "state").returncode == 0
    assert gh(fake, "pr", "comment", "4", "-R", "o/r", "-b", "x").stderr == \
        b"GraphQL: was submitted too quickly (addComment)\n"
