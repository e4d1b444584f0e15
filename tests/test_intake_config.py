"""The `intake:` section and `pipeline.auto_plan`: defaults, values, every problem named."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from coordssh.config.dump import config_to_dict
from coordssh.config.load import config_from_dict, load_config
from coordssh.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]


def _config(**sections):
    return config_from_dict({"repos": [], "machines": [], **sections}, Path("/tmp/c.yml"))


def test_defaults_skip_blocked_wip_needs_human_and_auto_plan_is_off():
    config = _config()
    assert config.intake.skip_labels == ("blocked", "wip", "needs-human")
    assert config.intake.take_labels == () and config.intake.day_budget_usd is None
    assert config.intake.limit == 500 and config.pipeline.auto_plan is False


def test_values_are_read_and_round_trip():
    config = _config(intake={"take_labels": ["ready"], "skip_labels": [],
                             "priority_labels": ["p0", "p1"],
                             "label_capabilities": {"gpu": ["gpu", "cuda"]},
                             "day_budget_usd": 12.5, "limit": 50},
                     pipeline={"auto_plan": True})
    assert config.intake.skip_labels == () and config.intake.priority_labels == ("p0", "p1")
    assert config.intake.label_capabilities == {"gpu": ("gpu", "cuda")}
    assert config.intake.day_budget_usd == 12.5 and config.pipeline.auto_plan
    data = config_to_dict(config)
    again = config_from_dict({k: v for k, v in data.items() if k != "path"}, Path("/tmp/c.yml"))
    assert again.intake == config.intake
    # the dump writes every pipeline key, so all of them count as written after a round trip
    assert replace(again.pipeline, given=frozenset()) == replace(config.pipeline, given=frozenset())


def test_every_problem_is_named():
    with pytest.raises(ConfigError) as err:
        _config(intake={"take_labels": "ready", "day_budget_usd": 0, "limit": 0,
                        "priority": ["p0"], "skip_labels": [""],
                        "label_capabilities": {"gpu": "gpu"}},
                pipeline={"auto_plan": "yes"})
    text = "\n".join(err.value.problems)
    for piece in ("intake.take_labels: expected a list, got the string 'ready' (write [ready])",
                  "intake.day_budget_usd: must be greater than 0", "intake.limit: must be at least 1",
                  "intake.priority: unknown key (did you mean 'priority_labels'?)",
                  "intake.skip_labels[0]: an empty label matches nothing",
                  "intake.label_capabilities.gpu: expected a list",
                  "pipeline.auto_plan: expected true or false"):
        assert piece in text


def test_the_example_file_sets_intake():
    config = load_config(REPO_ROOT / "coordinator.example.yml", environ={})
    assert config.intake.priority_labels == ("p0", "p1")
    assert config.intake.label_capabilities == {"gpu": ("gpu",)}
