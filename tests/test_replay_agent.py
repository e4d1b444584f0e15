"""The replay agent: installed on a worker through a real transport (local and sshd), run there."""

from __future__ import annotations

import json
import os
import stat
import subprocess

from coordssh.agent.outcome import classify
from coordssh.agent.replay import REPLAY_MODEL, install_replay_agent, transcript
from coordssh.agent.stream import StreamState
from coordssh.domain import models as m
from coordssh.shell.command import sh_script

RUN = 'cd "$1" && COORDSSH_REPLAY_PAUSE=0 exec "$2" "$@"'
PROMPT = "# Add a greeting & \"quotes\" | $(rm -rf /) `id` \\ ü\n\nSay hello.\n".encode()


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)


def make_clone(tmp_path, branch="issue-1-add-a-greeting"):
    work = tmp_path / "wt" / "demo"
    work.mkdir(parents=True)
    git("init", "-q", "-b", branch, cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "init",
        cwd=work)
    return work


async def run_agent(transport, path, work, *args, prompt=PROMPT):
    command = sh_script(RUN, str(work), path, *args)
    return await transport.run(command, input=prompt, timeout=60)


async def test_plays_the_transcript_and_commits(transport, machine, tmp_path):
    work = make_clone(tmp_path)
    path = await install_replay_agent(transport, machine.run_root)
    assert os.stat(path).st_mode & 0o777 == 0o700
    result = await run_agent(transport, path, work, "-p", "--output-format", "stream-json",
                             "--verbose", "--model", "sonnet")
    assert result.returncode == 0, result.stderr_text
    state = StreamState()
    state.feed(result.stdout)
    assert state.model == REPLAY_MODEL and state.cwd == str(work) and state.malformed == 0
    assert state.result["total_cost_usd"] == 0 and "no model was called" in state.result["result"]
    assert state.last_status == "done"
    outcome = classify(state, exit_code=0, alive=False, pushed_sha="abc1234")
    assert outcome.status == m.DONE
    log = git("log", "--format=%s", cwd=work).stdout.splitlines()
    assert log[0] == "replay: Add a greeting & \"quotes\" | $(rm -rf /) `id` \\ ü"
    note = work / "replay" / "issue-1-add-a-greeting.md"
    assert note.read_text().startswith("# Add a greeting")
    assert git("status", "--porcelain", cwd=work).stdout == ""


async def test_every_stream_line_is_one_json_object(transport, machine, tmp_path):
    work = make_clone(tmp_path, branch="feature/odd+name")
    path = await install_replay_agent(transport, machine.run_root)
    result = await run_agent(transport, path, work, "-p", "--output-format", "stream-json",
                             "--verbose")
    lines = result.stdout.decode().splitlines()
    objects = [json.loads(line) for line in lines]
    assert [o["type"] for o in objects][0] == "system" and objects[-1]["type"] == "result"
    assert len({o["session_id"] for o in objects}) == 1
    assert (work / "replay" / "feature-odd-name.md").exists()
    assert len(lines) == sum(1 for line in transcript().decode().splitlines()
                             if line and not line.startswith("#"))


async def test_refuses_stream_json_without_verbose_like_claude(transport, machine, tmp_path):
    work = make_clone(tmp_path)
    path = await install_replay_agent(transport, machine.run_root)
    result = await run_agent(transport, path, work, "-p", "--output-format", "stream-json")
    assert result.returncode == 1 and result.stdout == b""
    assert "requires --verbose" in result.stderr_text
    assert git("log", "--oneline", cwd=work).stdout.count("\n") == 1


async def test_install_is_idempotent_and_sits_beside_the_run_root(transport, machine):
    first = await install_replay_agent(transport, machine.run_root)
    second = await install_replay_agent(transport, machine.run_root)
    assert first == second == os.path.join(os.path.dirname(machine.run_root), "bin",
                                            "coordssh-replay")
    assert stat.S_IMODE(os.stat(first + ".replay").st_mode) == 0o600


# --- the recorded review -------------------------------------------------------------------------
def review_prompt(diff_line):
    from coordssh.agent.verdict import VERDICT_INSTRUCTIONS

    return (f"Issue #1: Add a greeting\n\nThe change under review is\n{diff_line} (and its log)."
            f"\n\n{VERDICT_INSTRUCTIONS}").encode()


def commit_file(work, name, text):
    (work / name).parent.mkdir(parents=True, exist_ok=True)
    (work / name).write_text(text)
    git("add", name, cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", name, cwd=work)
    return git("rev-parse", "HEAD", cwd=work).stdout.strip()


async def review(transport, machine, work, diff_line):
    from coordssh.agent.verdict import parse_verdict

    path = await install_replay_agent(transport, machine.run_root)
    before = git("log", "--oneline", cwd=work).stdout
    result = await run_agent(transport, path, work, "-p", "--output-format", "stream-json",
                             "--verbose", prompt=review_prompt(diff_line))
    assert result.returncode == 0, result.stderr_text
    state = StreamState()
    state.feed(result.stdout)
    assert state.malformed == 0 and state.result["total_cost_usd"] == 0
    assert git("log", "--oneline", cwd=work).stdout == before      # a review commits nothing
    assert git("status", "--porcelain", cwd=work).stdout == ""
    text = state.result["result"]
    assert "no model read the change" in text
    return parse_verdict(text)


async def test_a_review_of_replay_notes_only_approves(transport, machine, tmp_path):
    work = make_clone(tmp_path)
    base = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    head = commit_file(work, "replay/issue-1-add-a-greeting.md", "# Add a greeting\n")
    verdict = await review(transport, machine, work, f"`git diff {base}...{head}`")
    assert verdict.approved and verdict.findings == ()
    assert "only replay notes" in verdict.summary and "no model read" in verdict.summary


async def test_a_review_of_anything_else_requests_changes(transport, machine, tmp_path):
    work = make_clone(tmp_path)
    base = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    commit_file(work, "replay/note.md", "# a note\n")
    commit_file(work, "replay/bare.md", "no heading\n")
    head = commit_file(work, "greet.py", "print('Hello, world!')\n")
    verdict = await review(transport, machine, work, f"`git diff {base}...{head}`")
    assert verdict.verdict == "request_changes"
    assert sorted((f.file, f.severity) for f in verdict.findings) == \
        [("greet.py", "major"), ("replay/bare.md", "major")]


async def test_a_review_never_takes_an_option_for_its_diff_range(transport, machine, tmp_path):
    work = make_clone(tmp_path)
    commit_file(work, "replay/note.md", "# a note\n")
    written = tmp_path / "written-by-git-diff"
    verdict = await review(transport, machine, work, f"`git diff --output={written}`")
    assert verdict.verdict == "request_changes" and "could not list" in verdict.summary
    assert not written.exists()
