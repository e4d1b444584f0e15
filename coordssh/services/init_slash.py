"""`coordssh init`'s offer of a Claude Code slash command (`/coordinator`) in each repo it found.

Two files per repository, never overwritten without `force`:
  .claude/commands/coordinator.md   the slash command (shipped in coordssh/data/claude/): runs
                                    coordssh for the user, with the commands and exit codes it
                                    may rely on
  .claude/settings.json             `Bash(coordssh *)` merged into permissions.allow; every
                                    other key is kept as it was, and a file that is not a JSON
                                    object with the shapes Claude Code reads is left alone
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

COMMAND_FILE = Path(".claude") / "commands" / "coordinator.md"
SETTINGS_FILE = Path(".claude") / "settings.json"
PERMISSION = "Bash(coordssh *)"
TEMPLATE = Path(__file__).resolve().parent.parent / "data" / "claude" / "coordinator.md"

# what happened to one file
WRITTEN, UNCHANGED, KEPT, OVERWRITTEN, ADDED, REFUSED = (
    "written", "unchanged", "kept", "overwritten", "added", "refused")


@dataclass(frozen=True)
class FileOutcome:
    path: Path
    state: str          # one of the names above
    detail: str = ""    # why a file was kept or refused, and how to proceed

    @property
    def changed(self) -> bool:
        return self.state in (WRITTEN, OVERWRITTEN, ADDED)


def install(repos: list[Path], *, allow: bool, force: bool = False) -> list[FileOutcome]:
    """The slash command in each repo, and (with `allow`) its permission in the settings."""
    outcomes = []
    for repo in repos:
        outcomes.append(_guarded(repo / COMMAND_FILE, lambda r=repo: write_slash_command(
            r, force=force)))
        if allow:
            outcomes.append(_guarded(repo / SETTINGS_FILE, lambda r=repo: allow_coordssh(r)))
    return outcomes


def _guarded(target: Path, write) -> FileOutcome:
    try:
        return write()
    except OSError as err:  # a read-only repo, `.claude` that is a file: say so, go on
        return FileOutcome(target, REFUSED, f"cannot write it: {err.strerror or err}")


def slash_command_text() -> str:
    return TEMPLATE.read_text(encoding="utf-8")


def write_slash_command(repo: Path, *, force: bool = False) -> FileOutcome:
    """`.claude/commands/coordinator.md` in `repo`; a different existing file only with force."""
    target = repo / COMMAND_FILE
    text = slash_command_text()
    if target.is_symlink() or target.exists():
        if _read(target) == text:
            return FileOutcome(target, UNCHANGED)
        if not force:
            return FileOutcome(target, KEPT, "it differs from coordssh's: pass --force to "
                                             "replace it")
        _write_atomic(target, text)
        return FileOutcome(target, OVERWRITTEN)
    _write_atomic(target, text)
    return FileOutcome(target, WRITTEN)


def allow_coordssh(repo: Path) -> FileOutcome:
    """Merge PERMISSION into `repo`'s .claude/settings.json permissions.allow."""
    target = repo / SETTINGS_FILE
    settings: object = {}
    if target.exists():
        try:
            settings = json.loads(_read(target) or "{}")
        except ValueError as err:
            return FileOutcome(target, REFUSED, f"not valid JSON ({err}); add "
                                                f"\"{PERMISSION}\" to permissions.allow yourself")
    problem = _shape_problem(settings)
    if problem:
        return FileOutcome(target, REFUSED, f"{problem}; add \"{PERMISSION}\" to "
                                            f"permissions.allow yourself")
    allow = settings.setdefault("permissions", {}).setdefault("allow", [])  # type: ignore[union-attr]
    if PERMISSION in allow:
        return FileOutcome(target, UNCHANGED)
    allow.append(PERMISSION)
    _write_atomic(target, json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
    return FileOutcome(target, ADDED)


def _shape_problem(settings: object) -> str:
    if not isinstance(settings, dict):
        return "it is not a JSON object"
    permissions = settings.get("permissions", {})
    if not isinstance(permissions, dict):
        return "its `permissions` is not an object"
    allow = permissions.get("allow", [])
    if not isinstance(allow, list):
        return "its `permissions.allow` is not a list"
    return ""


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return "\0"  # unreadable: never equal to what we would write


def _write_atomic(target: Path, text: str) -> None:
    """Temp file beside `target`, then rename; an existing file keeps its mode."""
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
