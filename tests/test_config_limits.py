"""coordinator.yml that attacks the parser (an alias bomb) or holds absurd values."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from coordssh.config.load import config_from_text
from coordssh.config.yaml_lines import MAX_ALIAS_NODES, parse_yaml, parse_yaml_fast
from coordssh.errors import ConfigError


def bomb(levels: int) -> str:
    """The classic "billion laughs": each anchor a list of nine aliases of the one before."""
    lines = ['a0: &a0 "lol"']
    for n in range(1, levels + 1):
        lines.append(f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]")
    return "repos: []\nmachines: []\n" + "\n".join(lines) + "\n"


# load the config in a child with at most ~1 GB of address space: a regression fails (MemoryError
# or a kill) instead of eating the machine; a bound on the nodes visited is what is asserted
CHILD = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    from coordssh.config.load import load_config
    from coordssh.errors import ConfigError
    try:
        load_config(sys.argv[1])
    except ConfigError as err:
        print(json.dumps({"message": err.message, "hint": err.hint}))
        sys.exit(2)
    sys.exit(0)
""")


@pytest.mark.parametrize("levels", [8, 9])
def test_an_alias_bomb_is_refused_by_name(tmp_path: Path, levels: int) -> None:
    path = tmp_path / "coordinator.yml"
    path.write_text(bomb(levels))
    assert len(path.read_bytes()) < 500
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 2, done.stderr[-2000:]
    error = json.loads(done.stdout)
    assert str(path.name) in error["message"]
    assert "alias" in error["message"] and "&a" in error["message"]
    assert f"{MAX_ALIAS_NODES:,}" in error["message"]
    assert "anchor" in error["hint"]


@pytest.mark.parametrize("parse", ["lines", "fast"])
def test_the_expansion_stops_at_the_bound(parse: str) -> None:
    visited = []
    text = bomb(6)  # 9**6 = 531,441 leaves: small enough to count, far past the bound
    with pytest.raises(ConfigError):
        if parse == "lines":
            parse_yaml(text, Path("coordinator.yml"), on_node=visited.append)
        else:
            parse_yaml_fast(text, Path("coordinator.yml"), on_node=visited.append)
    assert MAX_ALIAS_NODES < len(visited) <= 2 * MAX_ALIAS_NODES


def test_ordinary_aliases_and_merge_keys_still_work(tmp_path: Path) -> None:
    first = (f"  - &d {{name: m0, host: h0, worktree_root: {tmp_path}/wt, "
             f"run_root: {tmp_path}/runs, repo_paths: &paths {{api: ~/src/api}}}}\n")
    others = "".join(f"  - {{<<: *d, name: m{i}, host: h{i}, repo_paths: *paths}}\n"
                     for i in range(1, 200))
    text = "repos:\n  - name: api\nmachines:\n" + first + others
    config = config_from_text(text, tmp_path / "coordinator.yml")
    assert list(config.machines)[-1] == "m199"
    assert config.machines["m199"].worktree_root == f"{tmp_path}/wt"
    assert config.machines["m199"].host == "h199"
    parsed = parse_yaml(text, tmp_path / "coordinator.yml")  # the line-tracking parse too
    assert parsed.data["machines"][199]["repo_paths"] == {"api": "~/src/api"}
