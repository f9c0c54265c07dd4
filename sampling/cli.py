"""Staff commands for frames and the sample: ``hailong frame import`` and ``hailong sample …``.

    hailong frame import FILE... [--db PATH] [--frame-name NAME] [--check]
    hailong sample draw --plan laichau-2025 --frame sampling/data [--seed N] [--out FILE]
                        [--round CODE [--db PATH]]
    hailong sample show [--plan … --frame … --seed … | --selection FILE] [--level village]
    hailong sample explain UNIT_OR_HOUSEHOLD [--plan … --frame … | --selection FILE]
    hailong sample substitutions list|approve|change|reject --round CODE --db PATH …

One module per command group (``frame_cli``, ``sample_cli``, ``substitutions_cli``), what they
share in ``cli_helpers``, the storing of a frame and a draw in ``persistence``; this module only
mounts them.

A draw is deterministic (same frame, plan and seed, same sample), so ``show`` and ``explain``
recompute it from the plan and the frame unless a saved selection (``--out x.json``) is given.
``--db`` defaults to ``$HAILONG_DB``, else ``./hailong.db``, as in every command: ``frame import``
stores the frame's units there (``--check`` only validates), and ``sample draw --round CODE``
stores the round's selected units (with their reasons) and the selected households or service
users (as respondents, reasons kept, contacts apart) through ``storage``. User errors print a
Vietnamese + English message and exit non-zero.
"""

from __future__ import annotations

import typer

from sampling.frame_cli import frame_app
from sampling.sample_cli import sample_app

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Mount ``frame`` and ``sample`` on the ``hailong`` app (see hailong/cli.py)."""
    app.add_typer(frame_app, name="frame")
    app.add_typer(sample_app, name="sample")
