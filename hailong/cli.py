"""The single console entry point ``hailong``: staff, analyst and operator commands.

Each package owns its own commands (``<package>/cli.py`` or a named module) and this file only
mounts them, so that teams working on different packages never edit the same file. The demo is
not a ``hailong`` command: it lives outside the runtime packages (``make demo``, ``python -m demo``).

Why the mounting is lazy: the command modules import pandas, fpdf, pyxform, the Telegram stack
and more at their top; importing them all took about 2.7 s before any command ran (``python -X
importtime``), paid again by every ``hailong`` process (each README step, each test that runs the
CLI, each cron job). :data:`MOUNTS` names, for each top-level command, the modules that mount it
and its one-line help: ``hailong --help`` lists the commands from that table without importing
them, and ``hailong NAME ...`` imports only NAME's modules. tests/hailong/test_cli_lazy.py checks
that the table matches what the modules really mount (names and help).
"""

from __future__ import annotations

import importlib
from importlib.metadata import version as _version
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_group

#: Mounted with ``app.add_typer(module.app, name=...)``; every other module has ``register(app)``.
_SUB_APPS: dict[str, str] = {"survey_defs.cli": "survey"}

#: Top-level command → (modules whose mounting adds it, in order; its one-line help). Order is
#: the order of ``hailong --help``. ``fieldwork.privacy_cli`` adds ``purge`` to the ``round``
#: group, so it always comes after ``hailong.fieldwork_app`` and ``round`` needs both.
MOUNTS: dict[str, tuple[tuple[str, ...], str]] = {
    "init": (("storage.cli",), "Tạo hoặc nâng cấp cơ sở dữ liệu / create or upgrade the database."),
    "chat": (("bot.console",), "Trả lời một phiếu khảo sát trong terminal / answer a questionnaire in the terminal."),
    "run": (("hailong.run", "hailong.console.cli"),   # the console offers itself to ``run --web``
            "Chạy bot khảo sát / run the survey bot on the chosen channels."),
    "status": (("hailong.fieldwork_app",), "Tiến độ theo đơn vị so với chỉ tiêu / progress per unit against its quota."),
    "indices": (("analytics.cli",), "In chỉ số hài lòng của một đợt / print a round's indices."),
    "export": (("analytics.cli",), "Xuất chỉ số và dữ liệu ẩn danh / export indices and anonymised data."),
    "report": (("analytics.cli",), "Viết báo cáo tiếng Việt (HTML hoặc Word) / write the report (HTML or Word)."),
    "config": (("hailong.config_reference",),
               "Tham chiếu cấu hình / print the configuration reference (environment variables, .env)."),
    "web": (("hailong.console.cli",),
            "Chạy bảng điều khiển web / run the staff web console (127.0.0.1 by default)."),
    "survey": (("survey_defs.cli",),
               "Bảng hỏi: kiểm tra, xem, nhập/xuất Excel / questionnaires: validate, show, import/export Excel."),
    "db": (("storage.cli",), "Cơ sở dữ liệu: nâng cấp, chép sang PostgreSQL / database: migrate, copy to PostgreSQL"),
    "frame": (("sampling.cli",),
              "Khung chọn mẫu: nạp và kiểm tra danh sách / sampling frames: import and validate lists."),
    "sample": (("sampling.cli",), "Chọn mẫu theo kế hoạch / draw the sample by the plan's rules."),
    "round": (("hailong.fieldwork_app", "fieldwork.privacy_cli"),
              "Đợt khảo sát / survey rounds: create, open, close, list."),
    "invites": (("hailong.fieldwork_app",), "Thư mời / invites: credentials, QR cards, sending."),
    "recheck": (("hailong.fieldwork_app",), "Phúc tra / re-check: draw, export, record outcomes."),
    "reminders": (("hailong.fieldwork_app",), "Nhắc nhở / reminders: plan and run."),
    "responses": (("analytics.cli",), "Phiếu giấy: mẫu nhập liệu và nhập phiếu / paper questionnaires."),
    "staff": (("hailong.console.cli",), "Tài khoản nhân viên (bảng điều khiển web, /status) / staff accounts."),
    "requests": (("hailong.fieldwork_app", "fieldwork.privacy_cli"),
                 "Yêu cầu của người dân về dữ liệu cá nhân / data subject requests."),
    "privacy": (("hailong.fieldwork_app", "fieldwork.privacy_cli"),
                "Bảo vệ dữ liệu cá nhân / personal data protection: report, consent."),
}

#: The app the command modules are mounted on, as they are imported (each once per process).
_mounted_app = typer.Typer(pretty_exceptions_show_locals=False)
_mounted: set[str] = set()


def mount(module: str) -> None:
    """Import ``module`` and mount its commands (once per process: registering mutates the
    modules' own sub-apps, e.g. ``round purge``, so a second call would add them twice)."""
    if module in _mounted:
        return
    mod = importlib.import_module(module)
    if module in _SUB_APPS:
        _mounted_app.add_typer(mod.app, name=_SUB_APPS[module])
    else:
        mod.register(_mounted_app)
    _mounted.add(module)


#: What typer builds for a command or a group (typer vendors click; these are its public classes).
Command = TyperCommand | TyperGroup


def load_command(name: str) -> Command | None:
    """The real click command ``name`` (its modules mounted first), or None if there is none."""
    if name not in MOUNTS:
        return None
    for module in MOUNTS[name][0]:
        mount(module)
    return get_group(_mounted_app).commands.get(name)


class LazyGroup(TyperGroup):
    """The root group: commands from :data:`MOUNTS` are imported when they are run (or their
    own help is asked for); the root help lists them from the table (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing = False

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return list(dict.fromkeys([*MOUNTS, *self.commands]))

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in MOUNTS and self._listing:
            return TyperCommand(cmd_name, short_help=MOUNTS[cmd_name][1])   # a line of the listing
        cmd = load_command(cmd_name)
        if cmd is not None:
            self.commands[cmd_name] = cmd
        return cmd

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="hailong",
    help="hailong: khảo sát sự hài lòng qua chat / citizen-satisfaction surveys over chat.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    cls=LazyGroup,
)


@app.callback()
def _root() -> None:
    # Makes typer build a group (the root's help is the ``help=`` above) although ``version``
    # is the only command registered here; the rest come through LazyGroup.
    pass


@app.command("version")
def version() -> None:
    """Print hailong's version."""
    typer.echo(f"hailong {_version('hailong')}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
