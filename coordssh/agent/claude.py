"""The `claude -p` command line, and which model a run uses.

The command is always `claude -p --output-format stream-json --verbose ...` (stream-json needs
--verbose with -p, or claude exits 1 before starting). There is no positional prompt: the
prompt is claude's stdin (the run envelope's prompt.md), so no user text ever reaches argv, and
the variadic `--allowedTools` cannot swallow it. The allowed tools (and the `--disallowedTools`
rules) travel as ONE comma-joined argument each for the same reason, which is why a tool rule may
not contain a comma.

`bypassPermissions` (alias `--dangerously-skip-permissions`) makes claude refuse to start when
it runs as root. Whether the worker's user is root is not knowable here; the outcome classifier
reports claude's refusal from stderr ("claude refused to start ...") and `doctor` can warn.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from coordssh.errors import UsageError
from coordssh.shell.command import Command

if TYPE_CHECKING:
    from coordssh.agent.playbook import Playbook
    from coordssh.config.schema import Models

PERMISSION_MODES = ("default", "manual", "acceptEdits", "plan", "auto", "dontAsk",
                    "bypassPermissions")


def new_session_id() -> str:
    """A session id chosen by coordssh, so it is known before claude's init line arrives."""
    return str(uuid.uuid4())


def build_claude_command(claude_path: str, *, model: str, permission_mode: str,
                         allowed_tools: Sequence[str], max_turns: int | None,
                         max_budget_usd: float | None, session_id: str | None,
                         disallowed_tools: Sequence[str] = (),
                         extra_args: Sequence[str] = ()) -> Command:
    """`claude -p --output-format stream-json --verbose --model M --permission-mode P ...`."""
    _check(claude_path, model, permission_mode, max_turns, max_budget_usd, session_id)
    parts = [claude_path, "-p", "--output-format", "stream-json", "--verbose",
             "--model", model, "--permission-mode", permission_mode]
    if allowed_tools:
        parts += ["--allowedTools", join_tools(allowed_tools)]
    if disallowed_tools:
        parts += ["--disallowedTools", join_tools(disallowed_tools)]
    if max_turns is not None:
        parts += ["--max-turns", str(max_turns)]
    if max_budget_usd is not None:
        parts += ["--max-budget-usd", _money(max_budget_usd)]
    if session_id:
        parts += ["--session-id", session_id]
    return Command(parts, list(extra_args))


def build_for_playbook(claude_path: str, playbook: Playbook, *, model: str,
                       session_id: str | None = None, allow: Sequence[str] = (),
                       deny: Sequence[str] = (), extra_args: Sequence[str] = ()) -> Command:
    """The command line for a run of `playbook`'s role with the already resolved `model`, its
    allowed tools plus `allow` (the repo's rules, agent.permissions), and the `deny` rules."""
    allowed = list(dict.fromkeys([*playbook.allowed_tools, *allow]))
    return build_claude_command(
        claude_path, model=model, permission_mode=playbook.permission_mode,
        allowed_tools=allowed, max_turns=playbook.max_turns,
        max_budget_usd=playbook.max_budget_usd, session_id=session_id,
        disallowed_tools=list(dict.fromkeys(deny)), extra_args=extra_args)


def join_tools(tools: Sequence[str]) -> str:
    """The one `--allowedTools` (or `--disallowedTools`) argument. A rule with a comma or newline
    cannot be passed."""
    cleaned = [t.strip() for t in tools]
    for tool in cleaned:
        if not tool or "," in tool or "\n" in tool:
            raise UsageError(f"invalid allowed tool {tool!r}",
                             hint="a tool rule is one line without commas, e.g. 'Bash(git diff *)'")
    return ",".join(cleaned)


def resolve_model(cli_model: str | None, labels: Sequence[str], config_models: Models,
                  playbook_default: str | None) -> tuple[str, str]:
    """(what claude is given, what the operator asked for).

    --model wins, else the first issue label mapped in `models.labels`, else the playbook's
    model, else `models.default`. Only the user's own `models.aliases` are mapped (their
    shorthand); `sonnet` stays `sonnet`: the CLI resolves its aliases, and the model it really
    runs is read back from its init line. coordssh never shows a model id of its own making.
    """
    chosen = (cli_model or _label_model(labels, config_models.labels) or playbook_default
              or config_models.default)
    return config_models.aliases.get(chosen, chosen), chosen


def _label_model(labels: Sequence[str], mapping: Mapping[str, str]) -> str | None:
    folded = {k.casefold(): v for k, v in mapping.items()}
    for label in labels:
        model = mapping.get(label) or folded.get(label.casefold())
        if model:
            return model
    return None


def _check(claude_path: str, model: str, permission_mode: str, max_turns: int | None,
           max_budget_usd: float | None, session_id: str | None) -> None:
    if not claude_path:
        raise UsageError("no claude command configured",
                         hint="set claude_command in coordinator.yml")
    if not model or model.startswith("-"):
        raise UsageError(f"invalid model {model!r}", hint="use an alias (sonnet) or a model id")
    if permission_mode not in PERMISSION_MODES:
        raise UsageError(f"invalid permission mode {permission_mode!r}",
                         hint=f"one of: {', '.join(PERMISSION_MODES)}")
    if max_turns is not None and (isinstance(max_turns, bool) or max_turns < 1):
        raise UsageError(f"max_turns must be a positive integer, not {max_turns!r}")
    if max_budget_usd is not None and not max_budget_usd > 0:
        raise UsageError(f"max_budget_usd must be positive, not {max_budget_usd!r}")
    if session_id:
        try:
            uuid.UUID(session_id)
        except ValueError:
            raise UsageError(f"session id {session_id!r} is not a UUID") from None


def _money(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")
