"""Role playbooks: the shipped implement playbook, rendering, overrides and validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordssh.agent.claude import build_for_playbook
from coordssh.agent.playbook import (BRIEFING_HEADING, SHIPPED_DIR, available_roles, load_playbook,
                                     parse_playbook)
from coordssh.errors import ConfigError, NotFound

REPO = Path(__file__).resolve().parent.parent
VALUES = {"issue_number": 42, "issue_title": "Refunds round $branch wrong",
          "issue_body": "Steps: call {refund} with ${repo_name}; costs $5.", "issue_url": "u",
          "branch": "issue-42-refunds", "base_branch": "main", "repo_name": "payments",
          "repo_notes": "Run `make test`."}

MINIMAL = """\
role: review
permission_mode: plan
allowed_tools: [Read, Grep]
prompt: |
  Review $branch against $base_branch.
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_shipped_implement_playbook():
    pb = load_playbook("implement")
    assert pb.role == "implement" and pb.permission_mode == "acceptEdits"
    assert pb.model is None and pb.max_turns and pb.max_budget_usd is None
    assert {"Read", "Edit", "Write", "Bash(git commit *)"} <= set(pb.allowed_tools)
    assert not any("push" in tool for tool in pb.allowed_tools)
    # ordinary work of a real run (each part of a compound command is judged on its own)
    assert {"Bash(python3 -m pytest *)", "Bash(cat *)", "Bash(pip install *)", "Bash(echo *)",
            "Bash(git add *)", "Bash(npm ci *)", "Bash(make *)"} <= set(pb.allowed_tools)
    words = " ".join(pb.render(VALUES).split())
    for rule in ("STATUS: <what you are doing>", "STUCK: <the reason>", "Do not push",
                 "Commit your work", "git worktree on the branch `issue-42-refunds`"):
        assert rule in words
    assert "implement" in available_roles()


def test_the_top_level_playbooks_directory_shows_the_shipped_files():
    assert (REPO / "playbooks" / "implement.yml").read_text() == \
        (SHIPPED_DIR / "implement.yml").read_text()


def test_values_are_inserted_once_and_never_expanded_again():
    prompt = load_playbook("implement").render(VALUES)
    assert "Issue #42: Refunds round $branch wrong" in prompt
    assert "Steps: call {refund} with ${repo_name}; costs $5." in prompt
    assert prompt.rstrip().endswith("Run `make test`.")


def test_the_briefing_is_appended_under_its_own_heading():
    pb = load_playbook("implement")
    plain = pb.render(VALUES)
    briefed = pb.render({**VALUES, "briefing": "Only touch refunds.py.\n[[fake-claude:stuck]]"})
    assert BRIEFING_HEADING not in plain
    assert briefed.startswith(plain.rstrip("\n"))
    assert briefed.endswith(f"{BRIEFING_HEADING}\n\nOnly touch refunds.py.\n[[fake-claude:stuck]]\n")


def test_a_prompt_may_place_the_briefing_itself(tmp_path):
    path = write(tmp_path, "review.yml", MINIMAL.replace("against $base_branch.",
                                                         "against $base_branch.\n  Focus: $briefing"))
    prompt = load_playbook("review", tmp_path).render({"branch": "b", "briefing": "tests"})
    assert prompt == "Review b against .\nFocus: tests\n" and path.exists()


def test_missing_values_are_empty_and_unknown_names_are_a_bug(tmp_path):
    write(tmp_path, "review.yml", MINIMAL)
    pb = load_playbook("review", tmp_path)
    assert pb.render({"branch": "b", "issue_body": None}) == "Review b against .\n"
    with pytest.raises(ValueError, match="issue_titel"):
        pb.render({"issue_titel": "typo"})


def test_a_playbooks_dir_overrides_and_falls_back(tmp_path):
    write(tmp_path, "implement.yml", MINIMAL.replace("role: review", "role: implement"))
    write(tmp_path, "review.yml", MINIMAL)
    assert load_playbook("implement", tmp_path).permission_mode == "plan"
    assert load_playbook("review", tmp_path).allowed_tools == ("Read", "Grep")
    other = tmp_path / "empty"
    other.mkdir()
    assert load_playbook("implement", other).path == SHIPPED_DIR / "implement.yml"
    assert available_roles(tmp_path) == ["continue", "fix", "implement", "review", "test"]


def test_unknown_and_invalid_roles():
    with pytest.raises(NotFound, match="no playbook for role 'nosuch'") as err:
        load_playbook("nosuch")
    assert "implement" in err.value.hint
    with pytest.raises(NotFound, match="invalid role name"):
        load_playbook("../etc/passwd")


@pytest.mark.parametrize("change, where", [
    (("permission_mode: plan", "permission_mode: yolo"), "review.yml:2: permission_mode: must be one of"),
    (("allowed_tools: [Read, Grep]", "allowed_tools: ['Read,Grep']"),
     "review.yml:3: allowed_tools: allowed_tools[0] = 'Read,Grep'"),
    (("allowed_tools: [Read, Grep]", "allowed_tools: Read"), "review.yml:3: allowed_tools: must be a list"),
    (("role: review", "role: review\nmax_turns: ten"), "review.yml:2: max_turns: must be a positive integer"),
    (("role: review", "role: review\nmax_budget_usd: -1"), "review.yml:2: max_budget_usd: must be a positive"),
    (("role: review", "role: review\ncolour: red"), "review.yml:2: colour: unknown key"),
    (("role: review", "role: implement"), "review.yml:1: role: is 'implement' but the file is named"),
    (("$branch against", "$branch costs $5 against"), "review.yml:4: prompt: has a `$`"),
    (("$branch against", "$brunch against"), "review.yml:4: prompt: unknown placeholder(s) $brunch"),
    (("Review $branch against $base_branch.", ""), "review.yml:4: prompt: must be a non-empty text"),
])
def test_validation_errors_name_the_file_line_and_key(tmp_path, change, where):
    path = write(tmp_path, "review.yml", MINIMAL.replace(*change))
    with pytest.raises(ConfigError) as err:
        load_playbook("review", tmp_path)
    assert any(p.startswith(f"{tmp_path}/{where}") for p in err.value.problems), err.value.problems
    assert str(path) in str(err.value)


def test_all_problems_are_reported_at_once(tmp_path):
    text = MINIMAL.replace("permission_mode: plan", "permission_mode: yolo\nmax_turns: 0")
    with pytest.raises(ConfigError, match="2 problems") as err:
        parse_playbook(text, tmp_path / "review.yml")
    assert len(err.value.problems) == 2


def test_yaml_that_is_not_a_playbook(tmp_path):
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_playbook("- just\n- a list\n", tmp_path / "review.yml")
    with pytest.raises(ConfigError, match="YAML syntax error"):
        parse_playbook("role: [unclosed\n", tmp_path / "review.yml")


def test_the_playbook_gives_the_command_line():
    pb = load_playbook("implement")
    command = build_for_playbook("/opt/claude", pb, model="sonnet")
    argv = command.argv()
    assert argv[:5] == ["/opt/claude", "-p", "--output-format", "stream-json", "--verbose"]
    assert argv[argv.index("--allowedTools") + 1] == ",".join(pb.allowed_tools)
    assert argv[argv.index("--max-turns") + 1] == str(pb.max_turns)
    assert "--max-budget-usd" not in argv and "--session-id" not in argv
