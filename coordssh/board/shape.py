"""The shape of a board file: what a JSON object must hold to be read as a coordssh board.

`read_json` parses the file; `check_shape` then refuses, with the corrupt-board message and its
fix, anything the board would otherwise trip over later (a table that is not an object, a row
that is not an object, a row without `machine`, a field of the wrong type). It only reads: the
file on disk is never changed by a check. Tables it does not know are only checked to be TinyDB
tables (an object of objects), so a newer table costs nothing here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from coordssh.errors import StateError

_STR = frozenset({str})
_INT = frozenset({int})
_NUM = frozenset({int, float})
_OPT_NUM = frozenset({int, float, type(None)})
_OPT_INT = frozenset({int, type(None)})

# every Assignment field and the exact JSON types it may hold (json.loads makes no subclasses)
FIELD_TYPES: dict[str, frozenset[type]] = {
    **dict.fromkeys(("id", "machine", "repo", "branch", "title", "base_branch", "base_sha",
                     "worktree", "run_dir", "model", "role", "launcher", "status", "reason",
                     "session_id", "last_status", "pushed_sha", "work"), _STR),
    **dict.fromkeys(("issue", "offset"), _INT),
    **dict.fromkeys(("created_at", "updated_at"), _NUM),
    **dict.fromkeys(("started_at", "finished_at", "duration_s", "cost_usd", "resets_at",
                     "unreachable_since"), _OPT_NUM),
    **dict.fromkeys(("turns", "exit_code"), _OPT_INT),
    "extra": frozenset({dict}),
}
REQUIRED = ("machine", "repo", "issue", "branch")


def corrupt_hint(path: Path) -> str:
    """The fix for a board file coordssh cannot read (the same for bad JSON and a bad shape)."""
    return (f"move {path} aside; coordssh starts an empty board, and the runs on the workers "
            "are still there to be seen")


def check_shape(data: Mapping[str, Any], path: Path) -> None:
    """Raise StateError naming the first thing in `data` that is not board-shaped."""
    problem = _problem(data)
    if problem is not None:
        raise StateError(f"{path} is not a coordssh board: {problem}", hint=corrupt_hint(path))


def _problem(data: Mapping[str, Any]) -> str | None:
    for name, table in data.items():
        if not isinstance(table, dict):
            return f"table '{name}' is a {_kind(table)}, not an object"
        for key, doc in table.items():
            if not isinstance(doc, dict):
                return f"'{name}' entry '{key}' is a {_kind(doc)}, not an object"
    version = data.get("meta", {}).get("schema", {}).get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        return f"the schema version is a {_kind(version)}, not a number"
    required = (*REQUIRED, "id") if version >= 1 else REQUIRED
    for key, row in data.get("assignments", {}).items():
        problem = _row_problem(row, required)
        if problem is not None:
            return f"assignment '{key}' {problem}"
    return None


def _row_problem(row: dict[str, Any], required: tuple[str, ...]) -> str | None:
    for name in required:
        if name not in row:
            return f"has no '{name}'"
    for name, value in row.items():
        if type(value) not in FIELD_TYPES.get(name, _ANY):
            return f"has '{name}' as a {_kind(value)}"
    return None


EVENT_TYPES: dict[str, frozenset[type]] = {"seq": _INT, "work": _STR, "kind": _STR, "at": _NUM,
                                           "run": _STR, "data": frozenset({dict})}


def check_event(line: bytes, path: Path, number: int | None) -> dict[str, Any]:
    """One line of the history parsed, or StateError naming the line and the fix."""
    return _checked_line(line, path, number, _event_problem, "history",
                         "the board keeps its work items and runs, only their history is left "
                         "out")


def _checked_line(line: bytes, path: Path, number: int | None, problem_of: Any, what: str,
                  keeps: str) -> dict[str, Any]:
    where = f"line {number}" if number else "a line"
    try:
        found = json.loads(line)
    except ValueError as exc:
        problem = f"{where} is not JSON ({exc})"
    else:
        problem = problem_of(found, where)
        if problem is None:
            return found
    raise StateError(f"{path} is not a coordssh {what}: {problem}",
                     hint=f"move {path} aside; {keeps}")


def check_row_line(line: bytes, path: Path, number: int | None) -> dict[str, Any]:
    """One line of runs-archive.jsonl (a finished run's row) parsed, or StateError."""
    return _checked_line(line, path, number, _archived_row_problem, "run archive",
                         "only runs archived by `coordssh gc` are in it")


def _archived_row_problem(row: Any, where: str) -> str | None:
    if not isinstance(row, dict):
        return f"{where} is a {_kind(row)}, not an object"
    problem = _row_problem(row, (*REQUIRED, "id"))
    return f"{where} {problem}" if problem else None


def _event_problem(event: Any, where: str) -> str | None:
    if not isinstance(event, dict):
        return f"{where} is a {_kind(event)}, not an object"
    for name, types in EVENT_TYPES.items():
        if name in event and type(event[name]) not in types:
            return f"{where} has '{name}' as a {_kind(event[name])}"
    for name in ("seq", "work", "kind"):
        if name not in event:
            return f"{where} has no '{name}'"
    return None


class _Anything:
    def __contains__(self, item: object) -> bool:
        return True


_ANY = _Anything()  # a field the board does not know: Assignment.from_dict drops it


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)
