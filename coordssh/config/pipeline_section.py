"""The `pipeline:` section: what `coordssh notify` may do unattended, its bounds and budgets.

Every key is optional. A key that is written overrides what the seed's sections say
(`smoke_tests.auto_queue` -> auto_test, `reviews.enabled`/`auto_dispatch` -> auto_review,
`concurrency.auto_reassign`); a key that is not written leaves them in charge
(`services/pipeline.policy_from_config`). `Pipeline.given` records which keys were written.
"""

from __future__ import annotations

from typing import Any

from coordssh.config.schema import Budgets, Pipeline
from coordssh.config.validate import DAY, Checker
from coordssh.config.yaml_lines import YamlPath

FLAGS = ("auto_test", "auto_pr", "auto_review", "auto_fix", "auto_merge", "auto_reassign",
         "auto_resume", "auto_plan")
PIPELINE_KEYS = (*FLAGS, "merge_without_checks", "max_fix_rounds", "max_review_rounds", "stale_after",
                 "max_dispatches_per_pass", "max_forge_calls_per_pass", "run_dir_max_age",
                 "budgets")
BUDGET_KEYS = ("run_usd", "item_soft_usd", "item_hard_usd", "day_usd")
MAX_AGE = 366 * DAY
MAX_USD = 1_000_000.0


def build_pipeline(c: Checker, raw: Any) -> Pipeline:
    path: YamlPath = ("pipeline",)
    m = c.mapping(raw, path, PIPELINE_KEYS)
    d = Pipeline()
    flags = {name: c.boolean(m, path, name, getattr(d, name)) for name in FLAGS}
    return Pipeline(
        **flags,
        merge_without_checks=c.boolean(m, path, "merge_without_checks", d.merge_without_checks),
        max_fix_rounds=c.integer(m, path, "max_fix_rounds", d.max_fix_rounds, minimum=0,
                                 maximum=100),
        max_review_rounds=c.integer(m, path, "max_review_rounds", d.max_review_rounds,
                                    minimum=0, maximum=100),
        stale_after=c.seconds(m, path, "stale_after", d.stale_after),
        max_dispatches_per_pass=c.integer(m, path, "max_dispatches_per_pass",
                                          d.max_dispatches_per_pass, minimum=0, maximum=1000),
        max_forge_calls_per_pass=c.integer(m, path, "max_forge_calls_per_pass",
                                           d.max_forge_calls_per_pass, minimum=0,
                                           maximum=10000),
        run_dir_max_age=c.seconds(m, path, "run_dir_max_age", d.run_dir_max_age,
                                  maximum=MAX_AGE),
        budgets=_budgets(c, m.get("budgets"), (*path, "budgets")),
        given=frozenset(k for k in m if k in PIPELINE_KEYS and m[k] is not None),
    )


def _budgets(c: Checker, raw: Any, path: YamlPath) -> Budgets:
    m = c.mapping(raw, path, BUDGET_KEYS)
    caps = {key: _usd(c, m, path, key) for key in BUDGET_KEYS}
    soft, hard = caps["item_soft_usd"], caps["item_hard_usd"]
    if soft is not None and hard is not None and soft > hard:
        c.add((*path, "item_soft_usd"), f"the soft cap (${soft:g}) must not exceed the hard "
                                        f"cap item_hard_usd (${hard:g})")
    return Budgets(**caps)


def _usd(c: Checker, m: dict, path: YamlPath, key: str) -> float | None:
    if m.get(key) is None:
        return None
    value = c.number(m, path, key, -1.0, positive=True, maximum=MAX_USD)
    return None if value < 0 else value


def pipeline_to_dict(section: Pipeline) -> dict[str, Any]:
    """The section as coordinator.yml spells it (for `config --json`; loads again to the same
    Config): the keys that were written, so that what the seed's sections decide (auto_test
    from smoke_tests.auto_queue, ...) is still theirs after the round trip."""
    data = {name: getattr(section, name) for name in PIPELINE_KEYS
            if name != "budgets" and name in section.given}
    budgets = {key: getattr(section.budgets, key) for key in BUDGET_KEYS}
    if "budgets" in section.given or any(v is not None for v in budgets.values()):
        data["budgets"] = budgets
    return data
