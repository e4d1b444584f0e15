"""The `pipeline:` section and the per-machine `account` key: defaults, validation with exact
messages, the mapping onto the policy (the seed's sections keep working)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from coordssh.config.dump import config_to_dict
from coordssh.config.load import config_from_dict, load_config
from coordssh.errors import ConfigError
from coordssh.services.pipeline import policy_from_config
from tests.test_config import MINIMAL



def load(tmp_path: Path, extra: str):
    path = tmp_path / "coordinator.yml"
    path.write_text(MINIMAL + textwrap.dedent(extra))
    return load_config(path)


def problems(tmp_path: Path, extra: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, extra)
    return info.value.problems


def test_defaults_are_conservative(tmp_path):
    config = load(tmp_path, "")
    p = config.pipeline
    assert (p.auto_test, p.auto_pr, p.auto_fix, p.auto_merge, p.auto_resume) == (
        False, False, False, False, True)
    assert (p.stale_after, p.max_dispatches_per_pass, p.given) == (600.0, 4, frozenset())
    assert p.budgets.run_usd is None and p.budgets.day_usd is None
    assert config.machine("laptop").account_name == "machine:laptop"


def test_a_full_section_loads(tmp_path):
    config = load(tmp_path, """\
        pipeline:
          auto_test: true
          auto_fix: true
          max_fix_rounds: 5
          stale_after: 2m
          run_dir_max_age: 48h
          budgets: {run_usd: 2.5, item_soft_usd: 10, item_hard_usd: 20, day_usd: 100}
        """)
    p = config.pipeline
    assert (p.auto_test, p.auto_fix, p.max_fix_rounds, p.stale_after, p.run_dir_max_age) == (
        True, True, 5, 120.0, 48 * 3600.0)
    assert (p.budgets.run_usd, p.budgets.item_soft_usd, p.budgets.item_hard_usd,
            p.budgets.day_usd) == (2.5, 10.0, 20.0, 100.0)
    assert p.given == {"auto_test", "auto_fix", "max_fix_rounds", "stale_after",
                       "run_dir_max_age", "budgets"}


def test_every_problem_is_named_with_a_fix(tmp_path):
    found = problems(tmp_path, """\
        pipeline:
          auto_tset: true
          auto_pr: "yes"
          stale_after: soon
          max_dispatches_per_pass: -1
          budgets: {run_usd: 0, item_soft_usd: 30, item_hard_usd: 20, day_sud: 5}
        """)
    assert found == [
        "coordinator.yml:8: pipeline.auto_tset: unknown key (did you mean 'auto_test'?)",
        "coordinator.yml:9: pipeline.auto_pr: expected true or false, got the string 'yes'",
        "coordinator.yml:10: pipeline.stale_after: 'soon' is not a duration; write seconds (90) "
        "or a string such as '90s', '30m', '4h'",
        "coordinator.yml:11: pipeline.max_dispatches_per_pass: must be at least 0, got -1",
        "coordinator.yml:12: pipeline.budgets.day_sud: unknown key (did you mean 'day_usd'?)",
        "coordinator.yml:12: pipeline.budgets.run_usd: must be greater than 0, got 0",
        "coordinator.yml:12: pipeline.budgets.item_soft_usd: the soft cap ($30) must not exceed "
        "the hard cap item_hard_usd ($20)",
    ]


def test_account_key_is_a_name(tmp_path):
    path = tmp_path / "coordinator.yml"
    path.write_text(MINIMAL + "    account: team-a\n  - name: box\n    account: team-a\n"
                              "    repo_paths: {api: /src/api}\n")
    config = load_config(path)
    assert {m.account_name for m in config.machines.values()} == {"team-a"}
    path.write_text(MINIMAL + "    account: 'a b'\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems[0].startswith(
        "coordinator.yml:7: machines[0].account: 'a b' is not a valid name")


def test_the_seed_sections_map_onto_the_policy_and_a_written_key_wins(tmp_path):
    seed = textwrap.dedent("""\
        smoke_tests: {auto_queue: true}
        reviews: {enabled: true, auto_dispatch: true}
        concurrency: {auto_reassign: true}
        """)
    policy = policy_from_config(load(tmp_path, seed))
    assert (policy.auto_test, policy.auto_review, policy.reviews, policy.auto_reassign) == (
        True, True, True, True)
    policy = policy_from_config(load(tmp_path, seed + textwrap.dedent("""\
        pipeline:
          auto_test: false
          max_review_rounds: 4
          budgets: {item_soft_usd: 1, item_hard_usd: 2}
        """)))
    assert (policy.auto_test, policy.auto_review, policy.max_review_rounds) == (False, True, 4)
    assert (policy.item_soft_budget_usd, policy.item_hard_budget_usd) == (1.0, 2.0)


def test_config_json_round_trips_the_section(tmp_path):
    config = load(tmp_path, "pipeline: {auto_test: true, budgets: {day_usd: 9}}\n")
    data = config_to_dict(config)
    data.pop("path")
    again = config_from_dict(data, config.path)
    assert again.pipeline == config.pipeline
    assert data["pipeline"] == {"auto_test": True, "budgets": {
        "run_usd": None, "item_soft_usd": None, "item_hard_usd": None, "day_usd": 9.0}}


def test_the_round_trip_leaves_the_seed_sections_in_charge_of_what_was_not_written(tmp_path):
    config = load(tmp_path, textwrap.dedent("""\
        smoke_tests: {auto_queue: true}
        concurrency: {auto_reassign: true}
        pipeline: {merge_without_checks: false}
        """))
    data = config_to_dict(config)
    data.pop("path")
    again = config_from_dict(data, config.path)
    assert again.pipeline.given == {"merge_without_checks"}
    policy = policy_from_config(again)
    assert (policy.auto_test, policy.auto_reassign, policy.merge_without_checks) == (
        True, True, False)
    assert policy_from_config(again) == policy_from_config(config)
