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
        what = _not_a_file(path)
        if what:
            raise ConfigError(f"config file {path} {what}",
                              hint=_hint(path, what, "check the --config path, or run "
                                                     "`coordssh init`"))
        return path.resolve()
    if env.get("COORDSSH_CONFIG"):
        path = Path(env["COORDSSH_CONFIG"]).expanduser()
        what = _not_a_file(path)
        if what:
            raise ConfigError(f"COORDSSH_CONFIG points to {path}, which {what}",
                              hint=_hint(path, what, "fix or unset COORDSSH_CONFIG"))
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


def _not_a_file(path: Path) -> str | None:
    """What `path` is when it is not a regular file ("is a directory", ...); None for a file."""
    import stat

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "does not exist"
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory"
    kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or
            stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "special")
    return f"is not a regular file (it is {kind})"


def _hint(path: Path, what: str, otherwise: str) -> str:
    if what == "is a directory":
        return f"give the file, e.g. {path / CONFIG_NAME}, or run `coordssh init --path {path}`"
    return otherwise
