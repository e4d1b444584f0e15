"""Where coordinator.yml is: --config PATH, then $COORDSSH_CONFIG, then ./coordinator.yml and parents."""

from __future__ import annotations

import os
from pathlib import Path

from coordssh.errors import ConfigError

CONFIG_NAME = "coordinator.yml"


def find_config_path(explicit: str | os.PathLike | None, *, cwd: Path | None = None,
                     environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist",
                              hint="check the --config path, or run `coordssh init`")
        return path.resolve()
    if env.get("COORDSSH_CONFIG"):
        path = Path(env["COORDSSH_CONFIG"]).expanduser()
        if not path.is_file():
            raise ConfigError(f"COORDSSH_CONFIG points to {path}, which does not exist",
                              hint="fix or unset COORDSSH_CONFIG")
        return path.resolve()
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_NAME} in {here} or any parent directory",
        hint="run `coordssh init` to write one, pass --config PATH, or set COORDSSH_CONFIG "
             "(or try `coordssh demo`, which needs no config)",
    )
