"""The reviewer's verdict: the LAST fenced ```json block of its final message. Fails closed.

    {"verdict": "approve" | "request_changes", "summary": "...",
     "findings": [{"file": "a.py", "line": 12, "severity": "blocker"|"major"|"minor",
                   "text": "..."}]}

Anything else is NOT an approval, with the reason: no message, no json block, a block that is
not JSON or not an object, a verdict missing or unknown, wrong types, a key given twice with
different values, another json block in the message with a different verdict (ambiguous), or
an approval that lists a blocker. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

VERDICTS = ("approve", "request_changes")
SEVERITIES = ("blocker", "major", "minor")
INVALID = "invalid"
_FENCE = re.compile(r"^[ \t]*```[ \t]*json[ \t]*\r?\n(.*?)^[ \t]*```[ \t]*$",
                    re.MULTILINE | re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    file: str
    line: int | None
    severity: str
    text: str


@dataclass(frozen=True)
class ReviewVerdict:
    verdict: str                     # approve | request_changes | invalid
    summary: str = ""
    findings: tuple[Finding, ...] = ()
    reason: str = ""                 # why it is not an approval ("" for a valid approve)

    @property
    def approved(self) -> bool:
        return self.verdict == "approve"

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "summary": self.summary, "reason": self.reason,
                "findings": [vars(f) for f in self.findings]}


# For the reviewer's prompt: how to end its final message (users' review playbooks rely on it).
VERDICT_INSTRUCTIONS = """\
End your final message with your verdict as the LAST fenced ```json block, exactly this shape:

```json
{"verdict": "approve", "summary": "one paragraph", "findings": [
  {"file": "path/to/file.py", "line": 12, "severity": "major", "text": "what is wrong and why"}]}
```

`verdict` is "approve" or "request_changes"; `severity` is "blocker", "major" or "minor"; `line`
is a number or null. Give one verdict only. A missing, unparsable or ambiguous verdict counts as
NOT approved, and so does an approval that lists a blocker.
"""


class _Bad(ValueError):
    pass


def _invalid(reason: str) -> ReviewVerdict:
    return ReviewVerdict(INVALID, reason=f"not approved: {reason}")


def parse_verdict(message: str | None) -> ReviewVerdict:
    """The verdict of the reviewer's final message (see the module docstring)."""
    if not message or not message.strip():
        return _invalid("the review ended without a final message")
    blocks = _FENCE.findall(message)
    if not blocks:
        return _invalid("the final message has no ```json block with the verdict")
    try:
        data = _load(blocks[-1])
        verdict = _verdict(data)
    except _Bad as bad:
        return _invalid(f"the last ```json block {bad}")
    for other in blocks[:-1]:
        try:
            earlier = _load(other).get("verdict")
        except _Bad:
            continue
        if earlier is not None and earlier != verdict.verdict:
            return _invalid(f"ambiguous: the message gives both {earlier!r} and "
                            f"{verdict.verdict!r}")
    blockers = [f for f in verdict.findings if f.severity == "blocker"]
    if verdict.approved and blockers:
        return ReviewVerdict(INVALID, verdict.summary, verdict.findings,
                             f"not approved: ambiguous: 'approve' with {len(blockers)} "
                             "blocker finding(s)")
    return verdict


def _load(block: str) -> dict[str, Any]:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out and out[key] != value:
                raise _Bad(f"gives {key!r} twice with different values")
            out[key] = value
        return out

    try:
        data = json.loads(block, object_pairs_hook=pairs)
    except _Bad:
        raise
    except ValueError as exc:
        raise _Bad(f"is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise _Bad(f"is a JSON {type(data).__name__}, not an object")
    return data


def _verdict(data: dict[str, Any]) -> ReviewVerdict:
    verdict = data.get("verdict")
    if verdict not in VERDICTS:
        raise _Bad("has no verdict" if verdict is None else
                   f"has verdict {verdict!r}; expected one of {', '.join(VERDICTS)}")
    summary = data.get("summary", "")
    if not isinstance(summary, str):
        raise _Bad(f"has a summary of type {type(summary).__name__}, not a string")
    findings = data.get("findings", [])
    if not isinstance(findings, list):
        raise _Bad(f"has findings of type {type(findings).__name__}, not a list")
    parsed = tuple(_finding(i, item) for i, item in enumerate(findings))
    reason = "" if verdict == "approve" else "not approved: the reviewer requested changes"
    return ReviewVerdict(verdict, summary, parsed, reason)


def _finding(index: int, item: Any) -> Finding:
    where = f"has finding {index + 1}"
    if not isinstance(item, dict):
        raise _Bad(f"{where} of type {type(item).__name__}, not an object")
    file, line, severity, text = (item.get(k) for k in ("file", "line", "severity", "text"))
    if not isinstance(file, str):
        raise _Bad(f"{where} without a file name")
    if line is not None and (isinstance(line, bool) or not isinstance(line, int) or line < 0):
        raise _Bad(f"{where} with line {line!r}, not a line number")
    if severity not in SEVERITIES:
        raise _Bad(f"{where} with severity {severity!r}; expected one of {', '.join(SEVERITIES)}")
    if not isinstance(text, str) or not text.strip():
        raise _Bad(f"{where} without text")
    return Finding(file, line, severity, text)
