"""The `STATUS:` / `STUCK:` lines the playbooks ask the agent to print.

A marker is a line of a COMPLETE text block (never a stream_event delta, where it may be split
across chunks) that starts with the marker, allowing the Markdown decoration models like to add
(`**STATUS:** running tests`, `> STUCK: ...`, `- STATUS: ...`).
"""

from __future__ import annotations

from coordssh.agent import events as ev

STATUS_MARK = "STATUS:"
STUCK_MARK = "STUCK:"
_DECORATION = "*_`>#- \t"


def markers(text: str) -> list[tuple[str, str]]:
    """(kind, message) for each marker line of `text`, in order."""
    # the substring test keeps ordinary text (the vast majority) off the line split
    if STATUS_MARK not in text and STUCK_MARK not in text:
        return []
    found = []
    for line in text.splitlines():
        message = _after(line, STATUS_MARK)
        if message is not None:
            found.append((ev.STATUS, message))
            continue
        message = _after(line, STUCK_MARK)
        if message is not None:
            found.append((ev.STUCK, message))
    return found


def find_marker(text: str, mark: str) -> str | None:
    """The message of the last `mark` line in `text`; None when there is none."""
    if mark not in text:
        return None
    found = None
    for line in text.splitlines():
        message = _after(line, mark)
        if message is not None:
            found = message
    return found


def _after(line: str, mark: str) -> str | None:
    stripped = line.lstrip(_DECORATION)
    if not stripped.startswith(mark):
        return None
    return stripped[len(mark):].strip().strip("*_`").strip()
