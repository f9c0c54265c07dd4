"""The single console entry point ``hailong``: staff, analyst and operator commands.

Each package owns its own commands (``<package>/cli.py`` or a named module) and this file only
mounts them, so that teams working on different packages never edit the same file.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="hailong",
    help="hailong: khảo sát sự hài lòng qua chat / citizen-satisfaction surveys over chat.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# (module, attribute, mount name or None for top-level commands registered by the module itself)
_MOUNTS: list[tuple[str, str, str | None]] = [
    ("survey_defs.cli", "app", "survey"),
    ("storage.cli", "register", None),
    ("bot.console", "register", None),
    ("bot.run", "register", None),
    ("sampling.cli", "register", None),
    ("bot.fieldwork_cli", "register", None),
    ("analytics.cli", "register", None),
    ("bot.config_reference", "register", None),
    ("bot.demo", "register", None),
    ("hailong.console.cli", "register", None),
    ("bot.privacy_cli", "register", None),
]


def _mount() -> None:
    for module_name, attr, name in _MOUNTS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a package not written yet; real import errors still raise
            if exc.name == module_name:
                continue
            raise
        target = getattr(module, attr)
        if name is None:
            target(app)
        else:
            app.add_typer(target, name=name)


@app.command("version")
def version() -> None:
    """Print hailong's version."""
    from importlib.metadata import version as _v

    typer.echo(f"hailong {_v('hailong')}")


_mount()


def main() -> None:
    app()
