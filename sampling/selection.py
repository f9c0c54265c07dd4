"""What a draw produces: the selection and its reasons, shared by every stage of the rule engine.

A module of its own because every sampling stage (:mod:`sampling.rules`,
:mod:`sampling.households`, :mod:`sampling.services`), the explanation (:mod:`sampling.explain`),
the selection files (:mod:`sampling.selection_io`) and the CLI use these types, while none of them
needs the rules themselves. Plain frozen dataclasses: a selection is data, stored as JSON and
compared by :meth:`Selection.fingerprint`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Reason",
    "SelectedUnit",
    "SelectedHousehold",
    "SelectedServiceUser",
    "Shortfall",
    "Substitution",
    "UnitList",
    "Selection",
    "SamplingError",
]


@dataclass(frozen=True, slots=True)
class Reason:
    """Why something was chosen: a stable machine code and a sentence in Vietnamese and English."""

    code: str
    vi: str
    en: str

    def text(self, lang: str = "vi") -> str:
        return self.vi if lang == "vi" else self.en

    def __str__(self) -> str:
        return f"{self.vi} / {self.en}"


@dataclass(frozen=True, slots=True)
class SelectedUnit:
    """A selected district, commune, village (or agency/field for a service survey)."""

    code: str
    name: str
    level: str
    parent_code: str | None
    reason: Reason
    list_key: str | None = None
    rank: int | None = None  # 1-based position in the list it was chosen from
    quota: int | None = None  # households (village), questionnaires (agency/field)
    order: int = 0


@dataclass(frozen=True, slots=True)
class SelectedHousehold:
    household_id: str
    village_code: str  # where the household lives
    sample_village_code: str  # the sampled village it counts for (differs for top-ups)
    sub_hamlet: str
    reason: Reason
    order: int = 0


@dataclass(frozen=True, slots=True)
class SelectedServiceUser:
    user_id: str
    agency: str
    field: str  # the field of the transaction
    quota_field: str  # the field of the quota table it counts for
    reason: Reason
    order: int = 0


@dataclass(frozen=True, slots=True)
class Shortfall:
    unit_code: str
    level: str
    needed: int
    got: int
    reason: Reason


@dataclass(frozen=True, slots=True)
class Substitution:
    """Questionnaires of a field with too few transactions moved to another field of the agency.

    ``status``: "proposed" (waiting for staff: nothing fielded yet), or "approved" (applied, its
    users drawn: plans with ``substitution_approval: automatic``, or a staff decision).
    ``missing``: what the field lacks in all (a proposal may be split over several fields).
    """

    agency: str
    from_field: str
    to_field: str
    count: int
    reason: Reason
    status: str = "approved"
    missing: int = 0


@dataclass(frozen=True, slots=True)
class UnitList:
    """A sorted list a choice was made from, kept so that every choice can be explained."""

    key: str
    title_vi: str
    title_en: str
    codes: tuple[str, ...]


@dataclass
class Selection:
    """The outcome of a draw."""

    plan_id: str
    plan_hash: str
    seed: int
    frame_sources: list[str]
    units: list[SelectedUnit] = field(default_factory=list)
    households: list[SelectedHousehold] = field(default_factory=list)
    service_users: list[SelectedServiceUser] = field(default_factory=list)
    shortfalls: list[Shortfall] = field(default_factory=list)
    substitutions: list[Substitution] = field(default_factory=list)
    lists: dict[str, UnitList] = field(default_factory=dict)
    #: things staff should know that do not stop the draw (a frame of another size than the plan's)
    warnings: list[Reason] = field(default_factory=list)

    def units_at(self, level: str) -> list[SelectedUnit]:
        return [u for u in self.units if u.level == level]

    def unit(self, code: str) -> SelectedUnit | None:
        for u in self.units:
            if u.code == code:
                return u
        return None

    def households_for(self, village_code: str) -> list[SelectedHousehold]:
        return [h for h in self.households if h.sample_village_code == village_code]

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "plan_hash": self.plan_hash,
            "seed": self.seed,
            "frame_sources": self.frame_sources,
            "units": [_record(u) for u in self.units],
            "households": [_record(h) for h in self.households],
            "service_users": [_record(s) for s in self.service_users],
            "shortfalls": [_record(s) for s in self.shortfalls],
            "substitutions": [_record(s) for s in self.substitutions],
            "lists": {k: {**_record(v), "codes": list(v.codes)} for k, v in self.lists.items()},
            "warnings": [{"code": w.code, "vi": w.vi, "en": w.en} for w in self.warnings],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Selection":
        def reason(d: dict[str, Any]) -> dict[str, Any]:
            return {**d, "reason": Reason(**d["reason"])}

        return cls(
            plan_id=data["plan_id"],
            plan_hash=data["plan_hash"],
            seed=data["seed"],
            frame_sources=list(data.get("frame_sources", [])),
            units=[SelectedUnit(**reason(u)) for u in data.get("units", [])],
            households=[SelectedHousehold(**reason(h)) for h in data.get("households", [])],
            service_users=[SelectedServiceUser(**reason(s)) for s in data.get("service_users", [])],
            shortfalls=[Shortfall(**reason(s)) for s in data.get("shortfalls", [])],
            substitutions=[Substitution(**reason(s)) for s in data.get("substitutions", [])],
            lists={k: UnitList(**{**v, "codes": tuple(v["codes"])})
                   for k, v in data.get("lists", {}).items()},
            warnings=[Reason(**w) for w in data.get("warnings", [])],
        )

    def fingerprint(self) -> str:
        """A hash of the whole selection (not of the frame's file names)."""
        d = self.to_dict()
        d.pop("frame_sources")
        return hashlib.sha256(json.dumps(d, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _record(obj: Any) -> dict[str, Any]:
    """A flat dict of a result dataclass (faster than dataclasses.asdict for thousands of rows)."""
    out = {name: getattr(obj, name) for name in obj.__slots__}
    reason = out.get("reason")
    if isinstance(reason, Reason):
        out["reason"] = {"code": reason.code, "vi": reason.vi, "en": reason.en}
    return out


class SamplingError(Exception):
    """The plan cannot be applied to this frame (missing data, names that match nothing)."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
