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

Both build plain data from the composed node tree, where an alias is the very node its anchor
names: each use of an alias builds the anchored part again. A few hundred bytes of nested
aliases ("billion laughs") would so expand to billions of nodes; the builder counts the nodes it
reaches through aliases and refuses past MAX_ALIAS_NODES, naming the anchor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coordssh.errors import ConfigError

YamlPath = tuple[str | int, ...]

EMPTY_HINT = "write one with `coordssh init`, or start from coordinator.example.yml"
MAX_ALIAS_NODES = 10_000  # nodes built again through aliases; merge keys over a fleet stay far below


@dataclass
class Parsed:
    data: Any
    key_lines: dict[YamlPath, int] = field(default_factory=dict)    # 1-based
    value_lines: dict[YamlPath, int] = field(default_factory=dict)  # 1-based
    duplicate_keys: list[tuple[YamlPath, int]] = field(default_factory=list)  # (path, first line)


def parse_yaml(text: str, path: Path, *, on_node: Callable[[Any], None] | None = None) -> Parsed:
    """Parse `text` (the content of `path`); raise ConfigError for syntax errors, an empty file
    or aliases that expand past MAX_ALIAS_NODES. `on_node` sees every node built (tests)."""
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
    builder = _Builder(yaml.SafeLoader(""), _Aliases(text, path, on_node))
    parsed = Parsed(data=None)
    parsed.data = builder.build(node, (), parsed)
    parsed.value_lines[()] = node.start_mark.line + 1
    return parsed


def parse_yaml_fast(text: str, path: Path | None = None, *,
                    on_node: Callable[[Any], None] | None = None) -> Parsed | None:
    """The data `parse_yaml` would build, parsed by LibYAML, without line numbers.

    None when LibYAML is not available, or when there is something to report (a syntax error,
    an empty file, a duplicate key): `parse_yaml` says it, with its line. Aliases that expand
    past MAX_ALIAS_NODES raise ConfigError here already.
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
        aliases = _Aliases(text, path or Path("coordinator.yml"), on_node)
        parsed.data = _Builder(loader(""), aliases, lines=False).build(node, (), parsed)
    except yaml.YAMLError:
        return None
    return None if parsed.duplicate_keys else parsed


class _Aliases:
    """Counts the nodes built again (reached through an alias) and refuses past the bound."""

    def __init__(self, text: str, path: Path, on_node: Callable[[Any], None] | None) -> None:
        self.text, self.path, self.on_node = text, path, on_node
        self.seen: set[int] = set()  # id() of every node built once (the tree keeps them alive)
        self.count = 0
        self.root: Any = None        # the anchored node whose alias is being expanded

    def again(self, node: Any) -> bool:
        """Whether `node` was built before; raise when the aliases expanded too far."""
        if id(node) not in self.seen:
            self.seen.add(id(node))
            return False
        self.count += 1
        if self.count > MAX_ALIAS_NODES:
            raise self.error(self.root or node)
        return True

    def error(self, node: Any) -> ConfigError:
        line = node.start_mark.line + 1
        anchor = _anchor_at(self.text, node.start_mark)
        what = f"anchor &{anchor}" if anchor else "the anchor on that line"
        return ConfigError(
            f"{self.path.name}:{line}: the YAML aliases expand past {MAX_ALIAS_NODES:,} nodes "
            f"through {what}: an alias bomb or a runaway anchor, refused",
            hint=f"in {self.path}, write the repeated part out or alias that anchor fewer times "
                 "(aliases of aliases multiply)")


def _anchor_at(text: str, mark: Any) -> str | None:
    """The anchor name of the node starting at `mark` (the composed tree forgets anchors)."""
    import yaml

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            anchor = getattr(event, "anchor", None)
            if anchor and not isinstance(event, yaml.AliasEvent) and (
                    event.start_mark.line, event.start_mark.column) == (mark.line, mark.column):
                return anchor
    except yaml.YAMLError:
        pass
    return None


class _Builder:
    def __init__(self, loader: Any, aliases: _Aliases, *, lines: bool = True) -> None:
        self.loader = loader  # used only for its SafeConstructor methods
        self.aliases = aliases
        self.merged: dict[int, int] = {}  # id(mapping node) -> how many leading pairs are merged
        self.lines = lines    # record each path's lines (False: data only)

    def build(self, node: Any, path: YamlPath, out: Parsed) -> Any:
        aliases = self.aliases
        if aliases.on_node is not None:
            aliases.on_node(node)
        if not aliases.again(node) or aliases.root is not None:
            return self._build(node, path, out)
        aliases.root = node  # the outermost alias being expanded: the one an error names
        try:
            return self._build(node, path, out)
        finally:
            aliases.root = None

    def _build(self, node: Any, path: YamlPath, out: Parsed) -> Any:
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

        pairs, merged = self._flattened(node)
        result: dict = {}
        own: set = set()
        for index, (key_node, value_node) in enumerate(pairs):
            if not isinstance(key_node, yaml.ScalarNode):
                key: Any = f"<{key_node.tag.rsplit(':', 1)[-1]}>"  # reported as a bad key later
            else:
                key = self.loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)  # `1: x` or `true: x`: keep going; names are strings anyway
            child = (*path, key)
            if index >= merged:  # the mapping's own key (a merged one may be overridden)
                if key in own:
                    out.duplicate_keys.append((child, out.key_lines.get(child, 0)))
                own.add(key)
            elif any(_same_key(key_node, k) for k, _ in pairs[merged:]):
                continue  # merged, then overridden by the mapping's own key: never built
            if self.lines:
                out.key_lines[child] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, child, out)
        return result


    def _flattened(self, node: Any) -> tuple[list, int]:
        """The mapping's pairs with `<<` merges resolved (as safe_load does), and how many of
        the leading pairs came from merges. Flattening changes the node: remember it once."""
        merged = self.merged.get(id(node))
        if merged is None:
            own = sum(1 for key_node, _ in node.value if key_node.tag != MERGE_TAG)
            self.loader.flatten_mapping(node)
            merged = self.merged[id(node)] = len(node.value) - own
        return node.value, merged


MERGE_TAG = "tag:yaml.org,2002:merge"


def _same_key(a: Any, b: Any) -> bool:
    return a is b or (getattr(a, "value", None) == getattr(b, "value", None)
                      and isinstance(a.value, str) and a.tag == b.tag)


def format_path(path: YamlPath) -> str:
    """("machines", 1, "repo_paths", "api") -> "machines[1].repo_paths.api"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
