"""What a board row says beyond its fields, for every renderer (plain text, no rich): the model
(asked for, until the run's init line names the one that runs), the latest API retry and the
denied tool calls, all read from the stream fold kept on the row (`extra["stream"]`)."""

from __future__ import annotations

from typing import Any

from coordssh.agent.events_text import retry_text
from coordssh.domain import models as m
from coordssh.domain.models import Assignment


def _stream(a: Assignment) -> dict[str, Any]:
    stream = a.extra.get("stream") if isinstance(a.extra, dict) else None
    return stream if isinstance(stream, dict) else {}


def model_label(a: Assignment) -> str:
    """The model the run's init line reported; before that, what was asked for and where from:
    `sonnet (models.default)`, `opus (--model)`, `haiku (label: small)`."""
    if _stream(a).get("model"):
        return a.model
    source = a.extra.get("model_source") if isinstance(a.extra, dict) else None
    given = a.extra.get("model_given") if isinstance(a.extra, dict) else None
    via = f"; models.aliases gives {given}" if given else ""
    return f"{a.model} ({source}{via})" if source else a.model


def api_retry(a: Assignment) -> str:
    """`API retry 6/10: authentication_failed (401), next in 17 s` while retries are the news."""
    retry = _stream(a).get("api_retry")
    return retry_text(retry) if isinstance(retry, dict) else ""


def denials(a: Assignment) -> tuple[int, list[str]]:
    """How many tool calls were denied, and the denied calls' names (each once)."""
    stream = _stream(a)
    count = stream.get("denial_count") or 0
    listed = stream.get("denials") if isinstance(stream.get("denials"), list) else []
    names = [d.get("tool", "") for d in listed if isinstance(d, dict)]
    return int(count), list(dict.fromkeys(n for n in names if n))


def doing(a: Assignment) -> str:
    """What a live run is doing (an API retry first), with its denials; how a finished one stands."""
    if a.status not in (m.RUNNING, m.STARTING):
        return a.reason
    now = api_retry(a) or a.last_status or a.reason
    count, names = denials(a)
    if count:
        now += f" · {count} denied: {', '.join(names[:2])}" if now else \
            f"{count} denied: {', '.join(names[:2])}"
    return now


JSON_EXTRA_KEYS = ("model_requested", "model_source", "api_retry", "api_retries", "denials",
                   "denied_tools", "slot", "claude_config_dir")


def json_fields(a: Assignment) -> dict[str, Any]:
    """The extra keys of a row in `status --json`."""
    count, names = denials(a)
    retry = _stream(a).get("api_retry")
    extra = a.extra if isinstance(a.extra, dict) else {}
    return {"model_requested": extra.get("model_requested"),
            "model_source": extra.get("model_source"),
            "api_retry": dict(retry, text=retry_text(retry)) if isinstance(retry, dict) else None,
            "api_retries": _stream(a).get("api_retries") or 0,
            "denials": count, "denied_tools": names,
            # the run's claude config slot (services/slots.py); None: the machine's own config
            "slot": extra.get("slot"), "claude_config_dir": extra.get("claude_config_dir")}
