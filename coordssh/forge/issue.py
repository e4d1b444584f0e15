"""The issue a worker is assigned, as every forge returns it (GitHub or plain git)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    body: str = ""
    labels: tuple[str, ...] = ()
    url: str = ""
    state: str = "OPEN"           # OPEN | CLOSED, as gh spells it

    @property
    def open(self) -> bool:
        return self.state == "OPEN"

    @classmethod
    def from_gh(cls, data: Mapping[str, Any]) -> Issue:
        """Parse one object of `gh issue view/list --json number,title,body,labels,url,state`."""
        labels = data.get("labels") or []
        return cls(
            number=int(data["number"]),
            title=str(data.get("title") or ""),
            body=str(data.get("body") or ""),
            labels=tuple(str(label["name"]) for label in labels),
            url=str(data.get("url") or ""),
            state=str(data.get("state") or "OPEN"),
        )


ISSUE_FIELDS = ("number", "title", "body", "labels", "url", "state")
