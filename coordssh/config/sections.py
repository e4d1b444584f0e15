"""The smaller sections: concurrency, models, runs, hooks, reviews, smoke_tests."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from coordssh.config.schema import (
    CLI_MODEL_NAMES,
    Concurrency,
    Models,
    Reviews,
    Runs,
    SmokeTests,
)
from coordssh.config.machines import check_repo_ref
from coordssh.config.suggest import did_you_mean
from coordssh.config.validate import DAY, MAX_SECONDS, MAX_WORKERS, Checker
from coordssh.config.yaml_lines import YamlPath

CONCURRENCY_KEYS = ("max_workers", "stagger_seconds", "backoff_base", "max_retries", "auto_reassign",
                    "stale_threshold", "max_connections")
MODELS_KEYS = ("default", "escalation", "labels", "aliases")
RUNS_KEYS = ("max_runtime", "result_grace", "stop_grace")
REVIEWS_KEYS = ("enabled", "auto_dispatch", "require_approval", "checklist", "repo_overrides")
SMOKE_KEYS = ("auto_queue", "default_command", "timeout_seconds", "capability_rules")
CAPABILITY_RULE_KEYS = ("files", "requires")


def build_concurrency(c: Checker, raw: Any) -> Concurrency:
    path: YamlPath = ("concurrency",)
    m = c.mapping(raw, path, CONCURRENCY_KEYS)
    d = Concurrency()
    return Concurrency(
        max_workers=c.integer(m, path, "max_workers", d.max_workers, minimum=1,
                              maximum=MAX_WORKERS),
        stagger_seconds=c.number(m, path, "stagger_seconds", d.stagger_seconds, minimum=0,
                                  maximum=DAY),
        backoff_base=c.number(m, path, "backoff_base", d.backoff_base, minimum=0, maximum=DAY),
        max_retries=c.integer(m, path, "max_retries", d.max_retries, minimum=0, maximum=1000),
        auto_reassign=c.boolean(m, path, "auto_reassign", d.auto_reassign),
        stale_threshold=c.integer(m, path, "stale_threshold", d.stale_threshold, minimum=1),
        max_connections=c.integer(m, path, "max_connections", d.max_connections, minimum=1,
                                  maximum=MAX_WORKERS),
    )


def build_models(c: Checker, raw: Any) -> Models:
    """Model names are the CLI's own (sonnet, opus, ...), the user's `models.aliases`, or full
    ids (`claude-...`). The aliases are only the user's shorthand: coordssh maps nothing itself."""
    path: YamlPath = ("models",)
    m = c.mapping(raw, path, MODELS_KEYS)
    aliases = c.string_map(m, path, "aliases")
    for alias, target in aliases.items():
        if not target.strip() or target.startswith("-") or any(ch.isspace() for ch in target):
            c.add((*path, "aliases", alias), f"'{target}' is not a model name for claude --model")
    d = Models()
    default = c.string(m, path, "default", d.default) or d.default
    _check_model(c, (*path, "default"), default, aliases)
    escalation = c.strings(m, path, "escalation") if "escalation" in m else d.escalation
    for i, model in enumerate(escalation):
        _check_model(c, (*path, "escalation", i), model, aliases)
    labels = c.string_map(m, path, "labels")
    for label, model in labels.items():
        _check_model(c, (*path, "labels", label), model, aliases)
    return Models(default=default, escalation=escalation, labels=labels, aliases=aliases)


def _check_model(c: Checker, path: YamlPath, model: str, aliases: dict[str, str]) -> None:
    if model in aliases or model in CLI_MODEL_NAMES or model.startswith("claude-"):
        return
    names = [*CLI_MODEL_NAMES, *aliases]
    c.add(path, f"'{model}' is not a model{did_you_mean(model, names)}; use one of "
                f"{', '.join(names)}, or a full model id (claude-...)")


def build_runs(c: Checker, raw: Any) -> Runs:
    path: YamlPath = ("runs",)
    m = c.mapping(raw, path, RUNS_KEYS)
    d = Runs()
    return Runs(
        max_runtime_s=c.seconds(m, path, "max_runtime", d.max_runtime_s),
        result_grace_s=c.seconds(m, path, "result_grace", d.result_grace_s),
        stop_grace_s=c.seconds(m, path, "stop_grace", d.stop_grace_s),
    )


def build_hooks(c: Checker, raw: Any) -> dict[str, tuple[str, ...]]:
    """hook name -> the actions to run (any hook name; the services decide which they fire)."""
    path: YamlPath = ("hooks",)
    m = c.mapping(raw, path)
    return {name: c.strings(m, path, name) for name in m}


def build_reviews(c: Checker, raw: Any, repos: Collection[str] | None) -> Reviews:
    path: YamlPath = ("reviews",)
    m = c.mapping(raw, path, REVIEWS_KEYS)
    d = Reviews()
    overrides_path = (*path, "repo_overrides")
    overrides_raw = c.mapping(m.get("repo_overrides"), overrides_path)
    overrides = {}
    for repo in overrides_raw:
        if check_repo_ref(c, (*overrides_path, repo), repo, repos, key=True):
            overrides[repo] = c.strings(overrides_raw, overrides_path, repo)
    return Reviews(
        enabled=c.boolean(m, path, "enabled", d.enabled),
        auto_dispatch=c.boolean(m, path, "auto_dispatch", d.auto_dispatch),
        require_approval=c.boolean(m, path, "require_approval", d.require_approval),
        checklist=c.strings(m, path, "checklist"),
        repo_overrides=overrides,
    )


def build_smoke_tests(c: Checker, raw: Any) -> SmokeTests:
    path: YamlPath = ("smoke_tests",)
    m = c.mapping(raw, path, SMOKE_KEYS)
    d = SmokeTests()
    rules = []
    for i, item in enumerate(c.sequence(m.get("capability_rules"), (*path, "capability_rules"))):
        rule_path = (*path, "capability_rules", i)
        rule = c.mapping(item, rule_path, CAPABILITY_RULE_KEYS)
        if isinstance(item, dict):
            rules.append({"files": list(c.strings(rule, rule_path, "files")),
                          "requires": list(c.strings(rule, rule_path, "requires"))})
    return SmokeTests(
        auto_queue=c.boolean(m, path, "auto_queue", d.auto_queue),
        default_command=c.string(m, path, "default_command"),
        timeout_seconds=c.number(m, path, "timeout_seconds", d.timeout_seconds, positive=True,
                                 maximum=MAX_SECONDS),
        capability_rules=tuple(rules),
    )
