"""The one quoting-safe command builder. Nothing else in coordssh builds shell strings.

A `Command` is a sequence of parts:
  * plain `str`: one argument, always quoted for a POSIX shell;
  * `Raw`: a fragment our own code wrote (an operator such as `&&`, `|`, `>`), inserted verbatim;
  * `Secret`: an argument that is quoted like a `str` but masked as `***` in `display()`;
  * a nested `Command`: its parts are spliced in.

Untrusted text (issue titles, prompts, briefings, paths from config) is only ever a plain `str`
part, or better, data sent on stdin or through a file write; it never becomes `Raw`.

`sh_script(script, *args)` runs one of our constant shell scripts as `sh -c SCRIPT sh ARG...`:
the script text is ours, and the data reaches it as positional parameters ("$1", "$2", ...).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass


class Raw(str):
    """A shell fragment inserted as is. Only for constants written in coordssh's own code."""


@dataclass(frozen=True)
class Secret:
    value: str

    def __str__(self) -> str:  # never leak by accident in f-strings or logs
        return "***"


Part = "str | Raw | Secret | Command"


class Command:
    __slots__ = ("parts",)

    def __init__(self, *parts: str | Raw | Secret | Command | Iterable[str]) -> None:
        flat: list[str | Raw | Secret] = []
        for part in parts:
            if isinstance(part, Command):
                flat.extend(part.parts)
            elif isinstance(part, (str, Secret)):
                flat.append(part)
            elif isinstance(part, (int, float)) and not isinstance(part, bool):
                flat.append(str(part))
            else:
                for item in part:  # an iterable of plain arguments
                    if not isinstance(item, (str, Secret)):
                        raise TypeError(f"command part must be str, got {type(item).__name__}")
                    flat.append(item)
        self.parts: tuple[str | Raw | Secret, ...] = tuple(flat)

    # --- rendering ------------------------------------------------------------------------------
    def render(self) -> str:
        """The string a POSIX shell runs (the SSH channel's command)."""
        return " ".join(_render(p, masked=False) for p in self.parts)

    def display(self) -> str:
        """The same, with secrets masked: for logs, errors and --dry-run."""
        return " ".join(_render(p, masked=True) for p in self.parts)

    def argv(self) -> list[str] | None:
        """The argument vector when there is no Raw part (so no shell is needed), else None."""
        if any(isinstance(p, Raw) for p in self.parts):
            return None
        return [p.value if isinstance(p, Secret) else str(p) for p in self.parts]

    # --- composition ----------------------------------------------------------------------------
    def then(self, other: Command) -> Command:
        """`self && other`."""
        return Command(self, Raw("&&"), other)

    def pipe(self, other: Command) -> Command:
        return Command(self, Raw("|"), other)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Command) and self.parts == other.parts

    def __hash__(self) -> int:
        return hash(self.parts)

    def __repr__(self) -> str:
        return f"Command({self.display()!r})"


def _render(part: str | Raw | Secret, *, masked: bool) -> str:
    if isinstance(part, Raw):
        return str(part)
    if isinstance(part, Secret):
        return "***" if masked else shlex.quote(part.value)
    return shlex.quote(part)


def cmd(*argv: str | Secret) -> Command:
    """A plain argument vector."""
    return Command(*argv)


def sh_script(script: str, *args: str | Secret, shell: str = "sh") -> Command:
    """Run our constant `script` under `sh -c`, passing data as positional parameters."""
    return Command(shell, "-c", script, "coordssh", *args)


def as_command(command: Command | Iterable[str]) -> Command:
    return command if isinstance(command, Command) else Command(list(command))
