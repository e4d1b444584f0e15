"""The reviewer's verdict fails closed: only a clean, unambiguous last ```json block approves."""

from __future__ import annotations

import json

import pytest

from coordssh.agent.verdict import VERDICT_INSTRUCTIONS, Finding, parse_verdict


def block(obj) -> str:
    text = obj if isinstance(obj, str) else json.dumps(obj, indent=2)
    return f"```json\n{text}\n```"


APPROVE = {"verdict": "approve", "summary": "Looks right.", "findings": [
    {"file": "app.py", "line": 3, "severity": "minor", "text": "name could be clearer"}]}
CHANGES = {"verdict": "request_changes", "summary": "Off by one.", "findings": [
    {"file": "app.py", "line": 12, "severity": "blocker", "text": "loop skips the last item"},
    {"file": "README.md", "line": None, "severity": "major", "text": "docs not updated"}]}


def test_a_clean_approval():
    verdict = parse_verdict(f"I read the diff and ran the tests.\n\n{block(APPROVE)}\n")
    assert verdict.approved and verdict.verdict == "approve" and verdict.reason == ""
    assert verdict.summary == "Looks right."
    assert verdict.findings == (Finding("app.py", 3, "minor", "name could be clearer"),)
    assert verdict.as_dict()["findings"][0]["severity"] == "minor"


def test_request_changes_is_parsed_with_its_findings():
    verdict = parse_verdict("Findings below.\n" + block(CHANGES))
    assert not verdict.approved and verdict.verdict == "request_changes"
    assert [f.severity for f in verdict.findings] == ["blocker", "major"]
    assert verdict.findings[1].line is None
    assert "requested changes" in verdict.reason


def test_the_last_block_decides():
    text = ("A draft:\n" + block({"summary": "thinking"}) + "\nOther notes\n```python\nx = 1\n```\n"
            + block(APPROVE))
    assert parse_verdict(text).approved
    assert parse_verdict("```JSON\n" + json.dumps(APPROVE) + "\n```").approved  # tag case
    assert parse_verdict("  ```json  \n" + json.dumps(APPROVE) + "\n  ```\ntrailing words").approved
    assert parse_verdict(block({"verdict": "approve"})).approved    # summary/findings optional


@pytest.mark.parametrize("message, reason", [
    (None, "without a final message"),
    ("", "without a final message"),
    ("   \n", "without a final message"),
    ("I approve this PR.", "no ```json block"),
    ('{"verdict": "approve"}', "no ```json block"),                   # not fenced
    ("```\n" + json.dumps(APPROVE) + "\n```", "no ```json block"),      # fence without json tag
    ("```json\n" + json.dumps(APPROVE), "no ```json block"),            # never closed
    (block("{'verdict': 'approve'}"), "is not valid JSON"),
    (block(""), "is not valid JSON"),
    (block('{"verdict": "approve",}'), "is not valid JSON"),
    (block(["approve"]), "is a JSON list, not an object"),
    (block('"approve"'), "is a JSON str, not an object"),
    (block({"summary": "fine"}), "has no verdict"),
    (block({"verdict": "APPROVE"}), "has verdict 'APPROVE'"),
    (block({"verdict": "approved"}), "has verdict 'approved'"),
    (block({"verdict": "lgtm"}), "expected one of approve, request_changes"),
    (block({"verdict": True}), "has verdict True"),
    (block({"verdict": "approve", "summary": 3}), "summary of type int"),
    (block({"verdict": "approve", "findings": {"file": "a"}}), "findings of type dict"),
    (block({"verdict": "approve", "findings": ["nit"]}), "finding 1 of type str"),
    (block({"verdict": "approve", "findings": [{"line": 1, "severity": "minor", "text": "t"}]}),
     "finding 1 without a file name"),
    (block({"verdict": "approve", "findings": [
        {"file": "a", "line": "12", "severity": "minor", "text": "t"}]}), "line '12'"),
    (block({"verdict": "approve", "findings": [
        {"file": "a", "line": True, "severity": "minor", "text": "t"}]}), "line True"),
    (block({"verdict": "approve", "findings": [
        {"file": "a", "line": 1, "severity": "nit", "text": "t"}]}), "severity 'nit'"),
    (block({"verdict": "approve", "findings": [
        {"file": "a", "line": 1, "severity": "minor", "text": " "}]}), "without text"),
    (block('{"verdict": "approve", "verdict": "request_changes"}'),
     "gives 'verdict' twice with different values"),
    (block(CHANGES) + "\nOn reflection:\n" + block(APPROVE), "ambiguous: the message gives both"),
    (block({"verdict": "approve", "findings": [
        {"file": "a", "line": 1, "severity": "blocker", "text": "crash"}]}),
     "ambiguous: 'approve' with 1 blocker"),
])
def test_anything_else_is_not_an_approval(message, reason):
    verdict = parse_verdict(message)
    assert not verdict.approved
    assert verdict.verdict == "invalid"
    assert verdict.reason.startswith("not approved: ") and reason in verdict.reason


def test_a_repeated_key_with_the_same_value_and_agreeing_blocks_are_fine():
    assert parse_verdict(block('{"verdict": "approve", "verdict": "approve"}')).approved
    assert parse_verdict(block(APPROVE) + "\n\nAgain:\n" + block(APPROVE)).approved
    earlier_junk = block("not json at all") + "\n" + block(APPROVE)
    assert parse_verdict(earlier_junk).approved                  # only the last one must parse


def test_an_approval_followed_by_a_broken_block_fails_closed():
    assert not parse_verdict(block(APPROVE) + "\n" + block("{oops")).approved


def test_the_prompt_instructions_show_a_verdict_that_parses():
    example = VERDICT_INSTRUCTIONS.split("```json\n", 1)[1].split("```", 1)[0]
    parsed = parse_verdict("```json\n" + example + "```")
    assert parsed.approved and parsed.findings[0].severity == "major"
    assert not parse_verdict(VERDICT_INSTRUCTIONS.replace('"approve"', '"request_changes"', 1)).approved
