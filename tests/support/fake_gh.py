"""Drive the fake `gh` (tests/bin/gh): its state file, its invocation log, its environment."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

FAKE_GH = Path(__file__).resolve().parents[1] / "bin" / "gh"


class FakeGitHub:
    def __init__(self, root: Path, repo: str = "o/r") -> None:
        self.state_path = root / "gh-state.json"
        self.log_path = root / "gh-log.jsonl"
        self.gh = str(FAKE_GH)
        self.repo = repo
        self.save({"auth": "ok", "faults": [], "repos": {repo: {"labels": {}, "issues": {}}}})

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "FAKE_GH_STATE": str(self.state_path),
                "FAKE_GH_LOG": str(self.log_path)}

    def load(self) -> dict[str, Any]:
        """The state, read under the lock the fake gh writes it under (a gh call running in a
        run's process at the same moment never shows a half-written file)."""
        with open(self.state_path, encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_SH)
            return json.loads(fh.read())

    def save(self, state: dict[str, Any]) -> None:
        with os.fdopen(os.open(self.state_path, os.O_RDWR | os.O_CREAT, 0o600), "r+",
                       encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.truncate()
            fh.write(json.dumps(state))

    def update(self, **changes: Any) -> None:
        self.save({**self.load(), **changes})

    def add_label(self, name: str, color: str = "0e8a16", description: str = "") -> None:
        state = self.load()
        state["repos"][self.repo]["labels"][name] = {"color": color, "description": description}
        self.save(state)

    def add_issue(self, number: int, title: str, body: str = "", labels: tuple[str, ...] = (),
                  **extra: Any) -> None:
        state = self.load()
        issue = {"title": title, "body": body, "labels": list(labels), "state": "OPEN", **extra}
        state["repos"][self.repo]["issues"][str(number)] = issue
        self.save(state)

    def issue(self, number: int) -> dict[str, Any]:
        return self.load()["repos"][self.repo]["issues"][str(number)]

    def calls(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text(encoding="utf-8").splitlines()]

    # --- pull requests on a real bare origin (tests/bin/_gh_pulls.py) ----------------------------
    def attach_origin(self, origin: Path, default_branch: str = "main", **repo: Any) -> None:
        """Back this repo's pull requests by the bare git repository `origin`."""
        state = self.load()
        state["repos"][self.repo].update(origin=str(origin), default_branch=default_branch, **repo)
        self.save(state)

    def pull(self, number: int) -> dict[str, Any]:
        return self.load()["repos"][self.repo]["pulls"][str(number)]

    def set_pull(self, number: int, **changes: Any) -> None:
        """Change a PR's settable state: checks, mergeable_unknown, blocked, merge_queue, ..."""
        state = self.load()
        state["repos"][self.repo]["pulls"][str(number)].update(changes)
        self.save(state)

    def rate_limit(self, times: int, kind: str = "secondary", command: str | None = None) -> None:
        """The next `times` calls (of `command`, e.g. "pr view", or any) hit a rate limit."""
        fault: dict[str, Any] = {"kind": kind, "times": times}
        if command:
            fault["command"] = command
        self.update(faults=[*self.load().get("faults", []), fault])
