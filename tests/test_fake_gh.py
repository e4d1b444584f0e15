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
