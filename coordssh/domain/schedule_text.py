"""The scheduler's order and its words: the sort key, the rationale, times and money. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coordssh.domain.schedule_model import Candidate, Intake, MachineSlots

_LAST = "\uffff"


def order_key(cand: Candidate, intake: Intake) -> tuple:
    """Priority label (its place in intake.priority_labels), milestone (one with a due date
    first, earliest first; then any milestone, by title; then none), age, repo, number."""
    return (_priority(cand.labels, intake.priority_labels),
            0 if cand.milestone_due else 1 if cand.milestone else 2,
            cand.milestone_due or _LAST, cand.milestone or _LAST,
            cand.created_at or _LAST, cand.repo, cand.number)


def _priority(labels: Sequence[str], order: Sequence[str]) -> int:
    folded = [name.casefold() for name in order]
    ranks = [folded.index(label.casefold()) for label in labels if label.casefold() in folded]
    return min(ranks) if ranks else len(folded)


def why_first(cand: Candidate, intake: Intake) -> str:
    rank = _priority(cand.labels, intake.priority_labels)
    parts = []
    if rank < len(intake.priority_labels):
        parts.append(f"priority label {intake.priority_labels[rank]}")
    if cand.milestone:
        due = f" (due {cand.milestone_due[:10]})" if cand.milestone_due else ""
        parts.append(f"milestone {cand.milestone}{due}")
    parts.append(f"opened {cand.created_at[:10]}" if cand.created_at else "age unknown")
    return ", ".join(parts)


def rationale(cand: Candidate, intake: Intake, machine: MachineSlots, needed: Sequence[str],
              model: str, source: str, files: Sequence[str]) -> str:
    free = machine.free
    caps = f", has {', '.join(needed)}" if needed else ""
    touched = (f"likely files {', '.join(files)}: no in-flight branch or other proposal "
               "touches them" if files else "no file of the repo named in the issue")
    return (f"{why_first(cand, intake)}; on {machine.name} ({free} of {machine.max_workers} "
            f"slots free, serves {cand.repo}{caps}); model {model} ({source}); {touched}")


def money(value: float) -> str:
    return f"${value:,.2f}"
