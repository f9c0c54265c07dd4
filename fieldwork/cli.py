"""Fieldwork commands for Home Affairs staff: rounds, invites, progress, re-check, reminders.

    hailong round create --code LC2025 --survey sipas-households --plan laichau-2025 \\
                         --opens 2025-09-01 --closes 2025-09-30
    hailong round open|close --code LC2025          hailong round list
    hailong invites make  --round LC2025 [--out invites.csv]
    hailong invites cards --round LC2025 --out cards.pdf [--unit V012 …]
    hailong invites send  --round LC2025 --channel telegram [--enqueue-only]
    hailong status --round LC2025
    hailong recheck draw|export|record --round LC2025 …
    hailong reminders plan|run --round LC2025

One module per command group (``round_cli``, ``invites_cli``, ``status_cli``, ``recheck_cli``,
``reminders_cli``), what they share in ``cli_helpers``; this module only mounts them.

Every staff action is written to the audit log (by the storage function that makes the change,
or with ``storage.audit.audit`` for actions that change nothing, such as printing cards or
exporting the re-check list). User errors print a bilingual message and exit with code 2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from fieldwork import status_cli
from fieldwork.invites_cli import invites_app
from fieldwork.recheck_cli import recheck_app
from fieldwork.reminders_cli import reminders_app
from fieldwork.round_cli import round_app


def register(app: typer.Typer, *, claim_policy: Callable[[], Any] | None = None) -> None:
    """Mount the fieldwork commands on the ``hailong`` app (see hailong/cli.py and
    hailong/fieldwork_app.py, which adds ``invites send`` with the channels' senders).
    ``claim_policy``: the configured claim limits that ``status --problems`` reports against."""
    app.add_typer(round_app, name="round")
    app.add_typer(invites_app, name="invites")
    app.add_typer(recheck_app, name="recheck")
    app.add_typer(reminders_app, name="reminders")
    status_cli.register(app, claim_policy=claim_policy)
