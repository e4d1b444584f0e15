"""The `intake:` section: what `coordssh plan` takes (`pipeline.auto_plan` is in pipeline_section.py)."""

from __future__ import annotations

from typing import Any

from coordssh.config.schema import Intake
from coordssh.config.validate import Checker
from coordssh.config.yaml_lines import YamlPath

INTAKE_KEYS = ("take_labels", "skip_labels", "priority_labels", "label_capabilities",
               "day_budget_usd", "limit")
MAX_LIMIT = 5000


def build_intake(c: Checker, raw: Any) -> Intake:
    path: YamlPath = ("intake",)
    m = c.mapping(raw, path, INTAKE_KEYS)
    d = Intake()
    caps_path = (*path, "label_capabilities")
    caps_raw = c.mapping(m.get("label_capabilities"), caps_path)
    budget = m.get("day_budget_usd")
    return Intake(
        take_labels=_labels(c, m, path, "take_labels", d.take_labels),
        skip_labels=_labels(c, m, path, "skip_labels", d.skip_labels),
        priority_labels=_labels(c, m, path, "priority_labels", d.priority_labels),
        label_capabilities={str(label): c.strings(caps_raw, caps_path, label)
                            for label in caps_raw},
        day_budget_usd=(None if budget is None else
                        c.number(m, path, "day_budget_usd", 0.0, positive=True) or None),
        limit=c.integer(m, path, "limit", d.limit, minimum=1, maximum=MAX_LIMIT),
    )


def _labels(c: Checker, m: dict, path: YamlPath, key: str,
            default: tuple[str, ...]) -> tuple[str, ...]:
    if key not in m:
        return default
    labels = c.strings(m, path, key)
    for i, label in enumerate(labels):
        if not label.strip():
            c.add((*path, key, i), "an empty label matches nothing; remove it")
    return labels

