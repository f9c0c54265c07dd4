"""The state one draw builds up, and the helpers every sampling stage shares.

Its own module because the stages live in separate modules (communes and villages in
:mod:`sampling.rules`, households in :mod:`sampling.households`, service users in
:mod:`sampling.services`) and all of them add to the same :class:`Builder`, draw from the same
seeded streams (:func:`stage_rng`) and sort units the same way (:func:`ordered`); ``rules`` imports
the stages, so the shared part sits below them.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence

from sampling.collation import vi_sort_key
from sampling.frame_rows import UnitRow
from sampling.frames import Frame
from sampling.plan_schema import Plan
from sampling.selection import Reason, SelectedUnit, Selection, Shortfall, UnitList


def stage_rng(plan: Plan, seed: int, *parts: str) -> random.Random:
    """An independent, reproducible random stream for one stage of one unit."""
    blob = "\x1f".join([plan.id, str(seed), *parts]).encode()
    return random.Random(int.from_bytes(hashlib.sha256(blob).digest()[:16], "big"))


def ordered(units: Iterable[UnitRow], order: str = "alphabetical") -> list[UnitRow]:
    """Units in list order: Vietnamese alphabetical (name, kind, code), or by sort number."""
    key_name = lambda u: (vi_sort_key(u.name), vi_sort_key(u.kind or ""), u.code)  # noqa: E731
    if order == "sort_number":
        return sorted(units, key=lambda u: (u.sort_number is None, u.sort_number or 0, key_name(u)))
    return sorted(units, key=key_name)


class Builder:
    """One draw in progress: the plan, frame and seed, and the selection being filled."""

    def __init__(self, plan: Plan, frame: Frame, seed: int):
        self.plan = plan
        self.frame = frame
        self.seed = seed
        self.sel = Selection(plan.id, plan.content_hash, seed, list(frame.sources))
        self.chosen_why: dict[str, Reason] = {}

    def add_unit(self, unit: UnitRow, reason: Reason, *, list_key: str | None = None,
                 rank: int | None = None, quota: int | None = None) -> SelectedUnit:
        su = SelectedUnit(unit.code, unit.display_name, unit.level, unit.parent_code, reason,
                          list_key, rank, quota, len(self.sel.units) + 1)
        self.sel.units.append(su)
        self.chosen_why[unit.code] = reason
        return su

    def add_list(self, key: str, title_vi: str, title_en: str, units: Sequence[UnitRow]) -> None:
        self.sel.lists[key] = UnitList(key, title_vi, title_en, tuple(u.code for u in units))

    def shortfall(self, code: str, level: str, needed: int, got: int, reason: Reason) -> None:
        self.sel.shortfalls.append(Shortfall(code, level, needed, got, reason))
