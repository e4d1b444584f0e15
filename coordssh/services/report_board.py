"""The pipeline's records as the report needs them: when each work item was merged.

Read from the board file as plain data (`work_items` keyed "repo#issue") and the history
(`events` with `work`, `kind`, `at`, archived ones too), so the report works on a board with or
without the pipeline's tables and never depends on their classes. A merge is the latest `pr_merged` event of an item, else its
`updated_at` when its stage is `merged`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coordssh.board.storage import read_json

WORK_ITEMS, MERGED, MERGE_EVENT = "work_items", "merged", "pr_merged"


def work_item_tables(board) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(work items or None when the board has none (no table, or an empty one), events)."""
    data = read_json(board.path) or {}
    items = data.get(WORK_ITEMS)
    events = {str(e["seq"]): e for e in board.events()} if items else {}
    return (items if isinstance(items, dict) and items else None, events)


def merges(items: Mapping[str, Any], events: Mapping[str, Any]) -> dict[str, float]:
    """work key ("repo#issue") -> when it was merged."""
    found: dict[str, float] = {}
    for event in events.values():
        if isinstance(event, dict) and event.get("kind") == MERGE_EVENT \
                and isinstance(event.get("at"), (int, float)):
            key = str(event.get("work"))
            found[key] = max(found.get(key, 0.0), float(event["at"]))
    for key, item in items.items():
        if not isinstance(item, dict) or item.get("stage") != MERGED:
            continue
        name = f"{item['repo']}#{item['issue']}" if "repo" in item and "issue" in item else key
        if name not in found and isinstance(item.get("updated_at"), (int, float)):
            found[name] = float(item["updated_at"])
    return found
