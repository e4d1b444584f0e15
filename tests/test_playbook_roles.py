"""The shipped roles (implement, fix, continue, test): tools, push, prompts; the fix prompt
carries the failure and appends the operator's guidance; validation of `push` and of a prompt
for a role that runs no model."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordssh.agent.playbook import (GUIDANCE_HEADING, SHIPPED_DIR, available_roles,
                                     load_playbook, parse_playbook)
from coordssh.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
FIX_VALUES = {"issue_number": 7, "issue_title": "Add hello", "issue_body": "Say $hello {x}",
              "branch": "issue-7-add-hello", "base_branch": "main", "repo_name": "demo",
              "head_sha": "abc1234", "failure": "+ sh -c grep\nFAILED: file.txt lacks 'fixed'"}


def test_every_shipped_role_says_its_tools_and_whether_it_pushes():
    assert {"implement", "fix", "continue", "test"} <= set(available_roles())
    for role in ("implement", "fix", "continue"):
        pb = load_playbook(role)
        assert pb.push is True and pb.prompt and pb.permission_mode == "acceptEdits"
        assert "Bash(git commit *)" in pb.allowed_tools
        assert not any("push" in tool for tool in pb.allowed_tools)
    test = load_playbook("test")
    assert (test.push, test.prompt, test.allowed_tools) == (False, "", ())
    for role in ("fix", "continue", "test"):        # editable like implement: the same layout
        link = REPO / "playbooks" / f"{role}.yml"
        assert link.resolve() == SHIPPED_DIR / f"{role}.yml"


def test_the_fix_prompt_has_the_failure_and_the_guidance_appended():
    prompt = load_playbook("fix").render({**FIX_VALUES, "guidance": "look at file.txt"})
    assert "on the branch `issue-7-add-hello`" in prompt and "at abc1234" in prompt
    assert "FAILED: file.txt lacks 'fixed'" in prompt
    assert "Say $hello {x}" in prompt                        # values are never expanded again
    assert prompt.rstrip().endswith(f"{GUIDANCE_HEADING}\n\nlook at file.txt")
    assert GUIDANCE_HEADING not in load_playbook("fix").render(FIX_VALUES)


def test_the_continue_prompt_is_the_guidance():
    prompt = load_playbook("continue").render({"issue_number": 7, "issue_title": "Add hello",
                                               "branch": "b", "guidance": "use the v2 API"})
    assert prompt.startswith("The operator read where you stopped and says:\n\nuse the v2 API")
    assert GUIDANCE_HEADING not in prompt                    # placed by the prompt itself


def test_push_must_be_a_flag_and_a_model_less_role_has_no_prompt(tmp_path):
    bad = tmp_path / "fix.yml"
    bad.write_text("role: fix\npush: sometimes\nprompt: Fix $branch.\n")
    with pytest.raises(ConfigError) as info:
        parse_playbook(bad.read_text(), bad)
    assert info.value.message == f"{bad}:2: push: must be true or false"
    test = tmp_path / "test.yml"
    test.write_text("role: test\npush: false\nprompt: Run it.\n")
    with pytest.raises(ConfigError, match="test.yml:3: prompt: this role runs no model"):
        parse_playbook(test.read_text(), test)
    quiet = tmp_path / "review.yml"
    quiet.write_text("role: review\npush: false\nprompt: Review $branch.\n")
    assert parse_playbook(quiet.read_text(), quiet).push is False
