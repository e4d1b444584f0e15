"""The typer floor: an app with one command and one `--config` option, invoked once.

What any typer command costs before coordssh does anything (a start-up reference case).
"""

import sys
from typing import Optional

import typer

app = typer.Typer(add_completion=False)


@app.command()
def status(json_output: bool = typer.Option(False, "--json"),
           config: Optional[str] = typer.Option(None, "--config")) -> None:
    pass


@app.command()
def other() -> None:
    pass


app(args=sys.argv[1:], standalone_mode=False)
