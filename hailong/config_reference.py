"""The configuration reference, generated from the settings model so the docs cannot drift.

``hailong config`` prints it as a Markdown table; README.md embeds the same table between
markers, and a test checks that the two are identical.
"""

from __future__ import annotations

import typer
from pydantic import SecretStr

from bot.settings import Settings

README_BEGIN = "<!-- config-reference:begin -->"
README_END = "<!-- config-reference:end -->"


def _default(field) -> str:  # type: ignore[no-untyped-def]
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if value is None:
        return "—"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "—"
    return f"`{value}`"


def reference_markdown() -> str:
    """One row per setting: environment variable, default, meaning."""
    prefix = Settings.model_config.get("env_prefix", "")
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        env = f"{prefix}{name}".upper()
        meaning = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{env}` | {_default(field)} | {meaning} |")
    return "\n".join(lines) + "\n"


def register(app: typer.Typer) -> None:
    @app.command("config")
    def config_command() -> None:
        """Tham chiếu cấu hình / print the configuration reference (environment variables, .env)."""
        typer.echo(reference_markdown(), nl=False)
