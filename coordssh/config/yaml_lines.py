"""Parse YAML into plain data plus the line of every key and value, for error messages.

PyYAML's `safe_load` forgets where things were. We `compose` the node tree instead (it keeps
`start_mark` on every node) and build the data ourselves, recording for each path
(`("machines", 1, "repo_paths", "api")`) the line of its key and the line of its value.
Scalars are still constructed by PyYAML's SafeConstructor, so `yes`, `1.5`, `~` mean what they
mean in YAML. Merge keys (`<<: *base`) are flattened the same way safe_load does.

`parse_yaml` uses PyYAML's pure-Python parser, whose messages and marks the error messages are
written against; it is ~15x slower than LibYAML (80 against 5 ms for 50 machines).
`parse_yaml_fast` builds the same data with LibYAML and no line numbers, for the common case
where the file is valid: `load.py` tries it first and re-parses with `parse_yaml` only when
there is a problem to report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coordssh.errors import ConfigError

YamlPath = tuple[str | int, ...]

EMPTY_HINT = "write one with `coordssh init`, or start from coordinator.example.yml"


@dataclass
class Parsed:
    data: Any
    key_lines: dict[YamlPath, int] = field(default_factory=dict)    # 1-based
    value_lines: dict[YamlPath, int] = field(default_factory=dict)  # 1-based
    duplicate_keys: list[tuple[YamlPath, int]] = field(default_factory=list)  # (path, first line)


def parse_yaml(text: str, path: Path) -> Parsed:
    """Parse `text` (the content of `path`); raise ConfigError for syntax errors or an empty file."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        what = err.problem or err.context or "invalid YAML"
        raise ConfigError(f"{where}: YAML syntax error: {what}",
                          hint=f"fix the YAML in {path} at the line and column shown") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path.name}: YAML error: {err}", hint=f"fix the YAML in {path}") from None
    if node is None:
        raise ConfigError(f"{path.name}: the file is empty", hint=EMPTY_HINT)
    builder = _Builder(yaml.SafeLoader(""))
    parsed = Parsed(data=None)
    parsed.data = builder.build(node, (), parsed)
    parsed.value_lines[()] = node.start_mark.line + 1
    return parsed


def parse_yaml_fast(text: str) -> Parsed | None:
    """The data `parse_yaml` would build, parsed by LibYAML, without line numbers.

    None when LibYAML is not available, or when there is something to report (a syntax error,
    an empty file, a duplicate key): `parse_yaml` says it, with its line.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        return None
    try:
        node = yaml.compose(text, Loader=loader)
        if node is None:
            return None
        parsed = Parsed(data=None)
        parsed.data = _Builder(loader(""), lines=False).build(node, (), parsed)
    except yaml.YAMLError:
        return None
    return None if parsed.duplicate_keys else parsed


class _Builder:
    def __init__(self, loader: Any, *, lines: bool = True) -> None:
        self.loader = loader  # used only for its SafeConstructor methods
        self.lines = lines    # record each path's lines (False: data only)

    def build(self, node: Any, path: YamlPath, out: Parsed) -> Any:
        import yaml

        if self.lines:
            out.value_lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, out)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), out) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: Any, path: YamlPath, out: Parsed) -> dict:
        import yaml

        self.loader.flatten_mapping(node)  # resolves `<<` merge keys, as safe_load would
        result: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                key: Any = f"<{key_node.tag.rsplit(':', 1)[-1]}>"  # reported as a bad key later
            else:
                key = self.loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)  # `1: x` or `true: x`: keep going; names are strings anyway
            child = (*path, key)
            if key in result:
                out.duplicate_keys.append((child, out.key_lines.get(child, 0)))
            if self.lines:
                out.key_lines[child] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, child, out)
        return result


def format_path(path: YamlPath) -> str:
    """("machines", 1, "repo_paths", "api") -> "machines[1].repo_paths.api"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
