"""What the pipeline may do on its own (the `pipeline:` policy). Pure data, conservative defaults.

Nothing moves by itself unless a flag says so; the only exception is resuming a run that was
parked by a usage limit once its reset time has passed (issue 11: it "continues by itself"),
which starts no new work. `services/pipeline.policy_from_config` maps coordinator.yml onto it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    auto_test: bool = False          # test after a `done` implement or fix run
    auto_pr: bool = False            # open the PR after a passed test
    auto_review: bool = False        # review after the PR (when `reviews` is on)
    auto_fix: bool = False           # fix after a failed test, requested changes or a conflict
    auto_merge: bool = False         # merge when every gate holds
    auto_reassign: bool = False      # an infrastructure failure goes again (push again, retry)
    auto_resume: bool = True         # a usage-limited run continues after its reset
    reviews: bool = False            # a review approval is a gate before merging
    merge_without_checks: bool = True  # a PR whose repo reports no checks at all may merge
    max_fix_rounds: int = 3
    max_review_rounds: int = 2
    max_retries: int = 3             # retries + continuations of interrupted runs per item
    escalation: tuple[str, ...] = ("haiku", "sonnet", "opus")
    item_soft_budget_usd: float | None = None   # past it: one rung down the ladder
    item_hard_budget_usd: float | None = None   # past it: parked until a human decides

    def model_at(self, rung: int | None) -> str:
        if rung is None or not self.escalation:
            return ""
        return self.escalation[max(0, min(rung, len(self.escalation) - 1))]

    def rung_of(self, model: str, aliases: dict[str, str] | None = None) -> int | None:
        """The ladder index of `model` (an alias or the id it stands for), or None."""
        aliases = aliases or {}
        for index, name in enumerate(self.escalation):
            if model in (name, aliases.get(name)):
                return index
        return None
