"""Typed readers that collect every problem instead of stopping at the first.

A `Checker` reads values out of the parsed YAML. Each reader returns a usable value (the
default when the written one is wrong) and records a problem formatted as
`file:line: path: message`, so one pass reports everything that is wrong. Unknown keys are
reported at the key's line, bad values at the value's line.
"""

from __future__ import annotations

import math
import os
import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from coordssh.config.suggest import did_you_mean
from coordssh.config.yaml_lines import Parsed, YamlPath, format_path

MAX_INT = 2**31 - 1             # the ceiling of any count in a config
MAX_SECONDS = 30 * 24 * 3600.0  # the ceiling of any duration (30 days)
DAY = 24 * 3600.0
MAX_WORKERS = 1024              # claude runs on one machine, or connections at once
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit"
_DURATION_RE = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*$")


def _show(number: float) -> str:
    """A bound or a value as written: 1024, 2592000, 0.5, 1e+300."""
    if isinstance(number, float) and number.is_integer() and abs(number) < 1e16:
        return str(int(number))
    return f"{number:g}" if isinstance(number, float) else str(number)


def describe(value: Any) -> str:
    """How a wrong value is named in a message."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string '{value}'"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class Checker:
    def __init__(self, path: Path, parsed: Parsed | None = None) -> None:
        self.path = path
        self.parsed = parsed or Parsed(data=None)
        self._problems: list[tuple[int, str]] = []

    # --- reporting ------------------------------------------------------------------------------
    def line(self, path: YamlPath, *, key: bool = False) -> int | None:
        """The line of `path` (its key or its value), else of its nearest ancestor."""
        first, second = ((self.parsed.key_lines, self.parsed.value_lines) if key
                         else (self.parsed.value_lines, self.parsed.key_lines))
        for depth in range(len(path), -1, -1):
            prefix = path[:depth]
            for table in (first, second):
                if prefix in table:
                    return table[prefix]
        return None

    def add(self, path: YamlPath, message: str, *, key: bool = False) -> None:
        line = self.line(path, key=key)
        where = f"{self.path.name}:{line}" if line else self.path.name
        text = f"{where}: {format_path(path)}: {message}" if path else f"{where}: {message}"
        self._problems.append((line or 0, text))

    @property
    def problems(self) -> list[str]:
        """Every problem, in the order of the file's lines."""
        return [text for _, text in sorted(self._problems, key=lambda item: item[0])]

    # --- structure ------------------------------------------------------------------------------
    def mapping(self, value: Any, path: YamlPath, known: Iterable[str] | None = None) -> dict:
        """`value` as a mapping ({} when absent or wrong); unknown keys are reported."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(path, f"expected a mapping (key: value lines), got {describe(value)}")
            return {}
        if known is not None:
            known = list(known)
            for key in value:
                if key not in known:
                    hint = did_you_mean(key, known) or f"; known keys: {', '.join(known)}"
                    self.add((*path, key), f"unknown key{hint}", key=True)
        return value

    def sequence(self, value: Any, path: YamlPath, example: str = "") -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            tip = f" (write {example})" if example else ""
            self.add(path, f"expected a list, got {describe(value)}{tip}")
            return []
        return value

    # --- scalars --------------------------------------------------------------------------------
    def string(self, m: Mapping, path: YamlPath, key: str, default: str | None = None) -> str | None:
        value = m.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            self.add((*path, key), f"expected a string, got {describe(value)}")
            return default
        return value

    def name(self, m: Mapping, path: YamlPath, key: str = "name") -> str | None:
        value = self.string(m, path, key)
        if value is not None and not NAME_RE.match(value):
            self.add((*path, key), f"'{value}' is not a valid name ({NAME_RULE})")
            return None
        return value

    def integer(self, m: Mapping, path: YamlPath, key: str, default: int, *, minimum: int | None = None,
                maximum: int | None = None) -> int:
        value = m.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            tip = " (remove the quotes)" if isinstance(value, str) and value.strip().isdigit() else ""
            self.add((*path, key), f"expected an integer, got {describe(value)}{tip}")
            return default
        return self._in_range(value, path, key, default, minimum, maximum)

    def number(self, m: Mapping, path: YamlPath, key: str, default: float, *,
               minimum: float | None = None, maximum: float | None = None,
               positive: bool = False) -> float:
        value = m.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            tip = " (remove the quotes)" if isinstance(value, str) and _looks_numeric(value) else ""
            self.add((*path, key), f"expected a number, got {describe(value)}{tip}")
            return default
        if not math.isfinite(value):
            self.add((*path, key), f"must be a finite number, got {value}")
            return default
        if positive and value <= 0:
            self.add((*path, key), f"must be greater than 0, got {value}")
            return default
        return float(self._in_range(value, path, key, default, minimum, maximum))

    def seconds(self, m: Mapping, path: YamlPath, key: str, default: float, *,
                maximum: float = MAX_SECONDS) -> float:
        """A duration: seconds as a number, or a string such as '90s', '30m', '4h', '1h30m';
        more than 0 and at most `maximum` (30 days unless said)."""
        value = m.get(key)
        if isinstance(value, str):
            match = _DURATION_RE.match(value)
            if match and value.strip() and any(match.groups()):
                hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
                value = hours * 3600 + minutes * 60 + secs
            else:
                self.add((*path, key), f"'{value}' is not a duration; write seconds (90) "
                                       "or a string such as '90s', '30m', '4h'")
                return default
            if value <= 0:
                self.add((*path, key), f"must be greater than 0, got {m.get(key)!r}")
                return default
            if value > maximum:
                self.add((*path, key), f"must be at most {_show(maximum)} seconds, "
                                       f"got {m.get(key)!r}")
                return default
            return value
        return self.number(m, path, key, default, positive=True, maximum=maximum)

    def boolean(self, m: Mapping, path: YamlPath, key: str, default: bool) -> bool:
        value = m.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.add((*path, key), f"expected true or false, got {describe(value)}")
            return default
        return value

    def choice(self, m: Mapping, path: YamlPath, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.string(m, path, key)
        if value is None:
            return default
        if value not in choices:
            self.add((*path, key), f"'{value}' is not one of: {', '.join(choices)}"
                                   f"{did_you_mean(value, choices)}")
            return default
        return value

    def _in_range(self, value, path, key, default, minimum, maximum):
        if maximum is None and isinstance(value, int):
            maximum = MAX_INT  # nothing in a config counts past this
        if minimum is not None and value < minimum:
            self.add((*path, key), f"must be at least {_show(minimum)}, got {_show(value)}")
            return default
        if maximum is not None and value > maximum:
            bound = (f"between {_show(minimum)} and {_show(maximum)}" if minimum is not None
                     else f"at most {_show(maximum)}")
            self.add((*path, key), f"must be {bound}, got {_show(value)}")
            return default
        return value

    # --- collections ----------------------------------------------------------------------------
    def strings(self, m: Mapping, path: YamlPath, key: str) -> tuple[str, ...]:
        """A list of strings (a single string is an error with the fix spelled out)."""
        raw = m.get(key)
        items = self.sequence(raw, (*path, key), example=f"[{raw}]" if isinstance(raw, str) else "")
        good = []
        for i, item in enumerate(items):
            if isinstance(item, str):
                good.append(item)
            else:
                self.add((*path, key, i), f"expected a string, got {describe(item)}")
        return tuple(good)

    def string_map(self, m: Mapping, path: YamlPath, key: str) -> dict[str, str]:
        """A mapping of strings to strings; numbers are accepted as values and kept as text."""
        raw = self.mapping(m.get(key), (*path, key))
        result = {}
        for name, value in raw.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                tip = f' (quote it: "{str(value).lower()}")' if isinstance(value, bool) else ""
                self.add((*path, key, name), f"expected a string, got {describe(value)}{tip}")
                continue
            result[name] = value
        return result

    # --- paths ----------------------------------------------------------------------------------
    def worker_path(self, m: Mapping, path: YamlPath, key: str | None, default: str | None = None,
                    *, value: Any = None) -> str | None:
        """A path on a worker: absolute or `~/...`, kept as written (the worker expands `~`)."""
        if key is not None:
            value = self.string(m, path, key)
            path = (*path, key)
        elif not isinstance(value, str):
            self.add(path, f"expected a path (string), got {describe(value)}")
            return default
        if value is None:
            return default
        if not value.startswith(("/", "~")):
            self.add(path, f"'{value}' is a relative path; worker paths must be absolute or start "
                           f"with ~ (use '~/{value}' or an absolute path)")
            return default
        return posixpath.normpath(value)

    def local_path(self, m: Mapping, path: YamlPath, key: str) -> Path | None:
        """An operator-side path: `~` expanded, relative to the config file's directory."""
        value = self.string(m, path, key)
        if value is None:
            return None
        expanded = Path(value).expanduser()
        return Path(os.path.normpath(self.path.parent / expanded))
