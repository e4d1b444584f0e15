"""Entry point. The one place where errors become exit codes and messages.

`coordssh --version` is answered before typer is imported: it is the start-up floor. A plain
`coordssh status` line runs without typer too (cli/fastpath.py); typer gets everything else.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from coordssh import __version__
from coordssh.errors import EXIT_INTERNAL, EXIT_USAGE, ConfigError, CoordError


NO_ANSWER = "no answer to read (stdin is closed); pass --yes to answer yes"


def main(argv: list[str] | None = None) -> int:
    args = config_after_command(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["version"], ["-V"]):
        sys.stdout.write(f"coordssh {__version__}\n")
        return 0
    try:
        from coordssh.cli.fastpath import run as run_fast  # plain `status` lines, without typer

        code = run_fast(args)
        return _run_typer(args) if code is None else code
    except CoordError as err:
        report_error(err)
        return err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception:  # a bug: one line for the user, the traceback in the debug log
        import traceback

        path = write_debug_log(traceback.format_exc())
        sys.stderr.write(
            f"coordssh: internal error: {sys.exc_info()[1]!r}\n"
            f"  the traceback is in {path}; please include it in a bug report\n"
        )
        return EXIT_INTERNAL


def _run_typer(args: list[str]) -> int:
    """Every other command line; typer's own outcomes (exit, abort, usage) become exit codes."""
    from coordssh.cli.app import build_app  # typer and click only from here on

    import typer

    click = _click_exceptions()
    app = build_app()
    try:
        result = app(args=args, prog_name="coordssh", standalone_mode=False)
        return int(result or 0)
    except typer.Exit as ex:
        return ex.exit_code
    except typer.Abort as ex:
        if isinstance(ex.__context__, EOFError):  # a prompt met the end of stdin
            sys.stderr.write(f"coordssh: {NO_ANSWER}\n")
            return EXIT_USAGE
        sys.stderr.write("aborted\n")
        return 130
    except click.ClickException as ex:
        ex.show()
        return EXIT_USAGE if isinstance(ex, click.UsageError) else ex.exit_code


def config_after_command(args: list[str]) -> list[str]:
    """`--config PATH CMD ...` (or `--config=PATH CMD ...`) as `CMD --config PATH ...`: the
    commands take --config; the root accepts it too, for the user who puts it first."""
    if args and args[0].startswith("--config="):
        option, rest = [args[0]], args[1:]
    elif len(args) >= 2 and args[0] == "--config":
        option, rest = args[:2], args[2:]
    else:
        return args
    if not rest or rest[0].startswith("-"):
        return args  # no command follows: typer says what is missing
    return [rest[0], *option, *rest[1:]]


def _click_exceptions():
    """typer >= 0.20 vendors click as typer._click; older versions use click itself."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - depends on the installed typer
        from click import exceptions
    return exceptions


def report_error(err: CoordError) -> None:
    out = sys.stderr
    if isinstance(err, ConfigError) and len(err.problems) > 1:
        out.write(f"coordssh: {err.message}\n")
        for problem in err.problems:
            out.write(f"  {problem}\n")
    else:
        out.write(f"coordssh: {err.message}\n")
    if err.hint:
        out.write(f"  hint: {err.hint}\n")


_state_dir: Path | None = None  # set by the composition root once the config is loaded


def remember_state_dir(path: Path) -> None:
    global _state_dir
    _state_dir = path


def write_debug_log(text: str) -> Path:
    state = _state_dir or os.environ.get("COORDSSH_STATE_DIR") or _state_dir_guess()
    path = Path(state) / "debug.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    except OSError:
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"coordssh-debug-{os.getuid()}.log"
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return path


def _state_dir_guess() -> str:
    """The state dir of the config in use, found without loading (the config may be the bug)."""
    from coordssh.config.discover import find_config_path

    try:
        return str(find_config_path(None).parent / ".coordssh")
    except CoordError:
        return str(Path.cwd() / ".coordssh")


if __name__ == "__main__":
    raise SystemExit(main())
