"""The single console entry point ``hailong``: staff, analyst and operator commands.

Each package owns its own commands (``<package>/cli.py`` or a named module) and this file only
mounts them, so that teams working on different packages never edit the same file. The demo is
not a ``hailong`` command: it lives outside the runtime packages (``make demo``, ``python -m demo``).
"""

from __future__ import annotations

from importlib.metadata import version as _version

import typer

from analytics import cli as analytics_cli
from bot import console
from fieldwork import privacy_cli
from hailong import config_reference, fieldwork_app, run
from hailong.console import cli as console_cli
from sampling import cli as sampling_cli
from storage import cli as storage_cli
from survey_defs import cli as survey_cli

app = typer.Typer(
    name="hailong",
    help="hailong: khảo sát sự hài lòng qua chat / citizen-satisfaction surveys over chat.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

app.add_typer(survey_cli.app, name="survey")
for _register in (storage_cli.register, console.register, run.register, sampling_cli.register,
                  fieldwork_app.register, analytics_cli.register, config_reference.register,
                  console_cli.register, privacy_cli.register):
    _register(app)


@app.command("version")
def version() -> None:
    """Print hailong's version."""
    typer.echo(f"hailong {_version('hailong')}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
