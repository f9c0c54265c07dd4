"""Sampling plans as data (kế hoạch chọn mẫu): the pydantic schema of ``sampling/plans/*.yaml``.

A plan says how communes, villages and households (or service users) are chosen in one survey
year. The seeds are plans written as prose; each shipped YAML transcribes one seed, and every
choice the seed leaves open is a named field here with its default documented, so that a new
year's plan is a new file, not new code. :mod:`sampling.rules` applies a plan to a frame.

Positions in a list are written ``2`` (the 2nd), ``3``… or ``last``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sampling.collation import name_key

__all__ = [
    "Plan",
    "PlanError",
    "CommuneGroup",
    "TypeListCommunes",
    "AllCommunes",
    "HqPositionVillages",
    "HqRandomVillages",
    "HouseholdRule",
    "HouseholdOverride",
    "AgencyQuota",
    "FieldQuota",
    "ServicePlan",
    "ServiceEligibility",
    "RecheckBase",
    "DesignSpec",
    "load_plan",
    "plan_names",
    "PLANS_DIR",
]

PLANS_DIR = Path(__file__).resolve().parent / "plans"

Position = int | Literal["last"]
RecheckBase = Literal["returned", "sample"]
#: Respondent criteria a households plan may list, each asked by a screening question of the
#: household questionnaire (survey_defs/sipas-households.yaml, end rule in brackets): represents
#: the household [not_household_rep], aged 18+ [under_18], full legal capacity
#: [no_legal_capacity], can read and write [cannot_read_write].
Eligibility = Literal["household_representative", "age_18_plus", "legal_capacity", "literate"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommuneGroup(_Model):
    """How the communes of the districts matched by this group are chosen (2024).

    ``match_kind`` / ``match_names`` select districts (by kind, e.g. "thành phố", or by name);
    the first matching group of the plan applies, and a group with neither is the default.
    """

    match_kind: str | None = None
    match_names: list[str] = Field(default_factory=list)
    count: int = Field(3, ge=1, description="target number of communes per district")
    centre_by_default: bool = True
    lists: Literal["all", "other_than_centre"] = "all"
    positions: list[Position] = Field(default_factory=lambda: [2])

    @field_validator("positions")
    @classmethod
    def _positions(cls, v: list[Position]) -> list[Position]:
        if not v:
            raise ValueError("at least one position")
        for p in v:
            if isinstance(p, int) and p < 1:
                raise ValueError(f"position {p} must be >= 1 or 'last'")
        if len(set(v)) != len(v):
            raise ValueError("positions repeat")
        return v

    def matches(self, name: str, kind: str | None) -> bool:
        if self.match_names:
            return name_key(name) in {name_key(n) for n in self.match_names}
        if self.match_kind:
            return kind is not None and name_key(kind) == name_key(self.match_kind)
        return True


class TypeListCommunes(_Model):
    """2024: per district, the centre by default plus given positions of each type list."""

    method: Literal["type_lists"]
    groups: list[CommuneGroup]

    @field_validator("groups")
    @classmethod
    def _default_last(cls, v: list[CommuneGroup]) -> list[CommuneGroup]:
        if not v:
            raise ValueError("at least one group")
        return v


class AllCommunes(_Model):
    """2025: every commune/ward of the frame is in scope. A frame with another number of communes
    than ``expected_count`` is drawn with a warning (a pilot on part of the province is
    legitimate), never refused."""

    method: Literal["all"]
    expected_count: int | None = Field(None, ge=1)


class HqPositionVillages(_Model):
    """2024: the commune-HQ village by default, plus given positions in the sorted list."""

    method: Literal["hq_positions"]
    per_commune: int = Field(3, ge=1)
    positions: list[Position] = Field(default_factory=lambda: [2, "last"])
    order: Literal["alphabetical", "sort_number"] = "alphabetical"


#: Why the adjacent village AFTER the drawn one is tried first by default (the seed says "trước
#: hoặc sau", before or after, and gives no order): the plans read their lists forward (the 2024
#: plan's "2nd" counts from the top) and hailong's rule for a taken position already moves to the
#: next unit of the list; trying "after" first keeps one direction for both rules.
ADJACENT_REASON = ("thử bản liền kề sau trước, như quy tắc vị trí đã chọn (đọc danh sách từ trên xuống) / "
                   "the village after is tried first, as the taken-position rule reads the list forward")


class HqRandomVillages(_Model):
    """2025: the HQ village by default, the others drawn at random (seeded).

    A drawn village already taken by the Ministry's national survey is replaced by the village
    "liền kề trước hoặc sau" (adjacent before or after) in the sorted list: ``adjacent_first``
    says which side is tried first and ``adjacent_reason`` why (it is written into the reason of
    every replacement). When both neighbours are taken (already chosen, or also in the national
    survey, or missing at an end of the list), ``when_both_adjacent_taken: stop`` (the default)
    leaves the place open and lists the case for staff instead of going further out;
    ``further`` takes the nearest free village at any distance.
    """

    method: Literal["hq_random"]
    per_commune: int = Field(3, ge=1)
    order: Literal["alphabetical", "sort_number"] = "alphabetical"
    replace_national_survey: bool = True
    replacement_applies_to_hq: bool = False
    adjacent_first: Literal["after", "before"] = "after"
    adjacent_reason: str = ADJACENT_REASON
    when_both_adjacent_taken: Literal["stop", "further"] = "stop"


class HouseholdOverride(_Model):
    """A different number of households for one commune or ward, matched by its unit ``code`` or
    by its ``kind`` and ``name`` together ("phường" + "Tân Phong"): never by name alone, because a
    xã and a phường may share a name."""

    code: str | None = None
    kind: str | None = None
    name: str | None = None
    households: int = Field(ge=1)

    @model_validator(mode="after")
    def _key(self) -> "HouseholdOverride":
        if self.code is None and (self.kind is None or self.name is None):
            raise ValueError("an override needs a unit code, or a kind and a name together "
                             "(không khớp theo tên đơn thuần / never by name alone)")
        return self

    def matches(self, code: str, kind: str | None, name: str) -> bool:
        if self.code is not None:
            return code == self.code
        return kind is not None and name_key(kind) == name_key(self.kind or "") and name_key(name) == name_key(self.name or "")

    def label(self) -> str:
        return self.code if self.code is not None else f"{self.kind} {self.name}"


class HouseholdRule(_Model):
    """How many households per village and how they are chosen."""

    per_village: int = Field(ge=1)
    overrides: list[HouseholdOverride] = Field(default_factory=list)
    cover_sub_hamlets: bool = True
    top_up: Literal["neighbour", "none"] = "neighbour"

    def quota_for(self, code: str, kind: str | None, name: str) -> int:
        for o in self.overrides:
            if o.matches(code, kind, name):
                return o.households
        return self.per_village


class FieldQuota(_Model):
    """One field of service (lĩnh vực) of an agency with its number of questionnaires."""

    field: str
    quota: int = Field(ge=0)
    substitutes: list[str] = Field(default_factory=list)
    note: str | None = None


class AgencyQuota(_Model):
    """An agency (department, district or commune People's Committee) and its fields."""

    name: str
    level: Literal["department", "district", "commune"]
    district: str | None = None
    admin_type: Literal["I", "II", "III"] | None = None
    admin_centre: bool = False
    note: str | None = None
    fields: list[FieldQuota]

    @property
    def quota(self) -> int:
        return sum(f.quota for f in self.fields)

    @model_validator(mode="after")
    def _unique_fields(self) -> "AgencyQuota":
        seen = set()
        for f in self.fields:
            k = name_key(f.field)
            if k in seen:
                raise ValueError(f"field {f.field!r} repeats in {self.name!r}")
            seen.add(k)
        return self


class ServiceEligibility(_Model):
    """Who may be surveyed in a service survey, as frame filters (seed 003, II.2: "người dân,
    người đại diện tổ chức có địa chỉ, số điện thoại liên hệ đã trực tiếp giao dịch và nhận kết
    quả"): an address, a phone number, and the result received."""

    require_address: bool = True
    require_phone: bool = True
    require_result_received: bool = True


class ServicePlan(_Model):
    """2021: quota sample of service users by agency and field, with substitution.

    ``substitution_approval``: "staff" (default) — a field with too few transactions gets a
    proposed substitution with its reason, and nothing is fielded for it until staff approve or
    change it (``hailong sample substitutions``), because the plan sends such cases to the
    province ("báo cáo về UBND tỉnh (qua Sở Nội vụ) để xem xét, giải quyết"); "automatic" —
    proposals are applied at once.
    """

    totals: dict[str, int]
    agencies: list[AgencyQuota]
    substitution: Literal["same_agency", "none"] = "same_agency"
    substitution_approval: Literal["staff", "automatic"] = "staff"
    allow_fields_outside_table: bool = True
    eligibility: ServiceEligibility = Field(default_factory=ServiceEligibility)

    @model_validator(mode="after")
    def _totals(self) -> "ServicePlan":
        names = [name_key(a.name) for a in self.agencies]
        if len(set(names)) != len(names):
            raise ValueError("agency names repeat")
        sums = {"department": 0, "district": 0, "commune": 0}
        for a in self.agencies:
            sums[a.level] += a.quota
        sums_all = sum(sums.values())
        for key, declared in self.totals.items():
            actual = sums_all if key == "all" else sums.get(key.rstrip("s"))
            if actual is None:
                raise ValueError(f"unknown total {key!r} (departments, districts, communes, all)")
            if actual != declared:
                raise ValueError(
                    f"total {key!r} is declared {declared} but the table sums to {actual}")
        return self


DesignLevel = Literal["province", "district", "commune", "village", "agency", "field", "household",
                      "respondent"]


class DesignSpec(_Model):
    """How the sample is drawn, for the variance of the indices (``analytics.design``).

    ``strata``: the level whose units are the strata of the first stage (None: one stratum);
    ``stages``: the sampling stages in order, the first being the primary sampling unit; the last
    is usually ``household`` (one respondent per household) or ``respondent``.
    """

    strata: DesignLevel | None = None
    stages: list[DesignLevel]
    note: str = ""

    @model_validator(mode="after")
    def _order(self) -> "DesignSpec":
        if not self.stages:
            raise ValueError("at least one stage")
        if len(set(self.stages)) != len(self.stages):
            raise ValueError("stages repeat")
        if self.strata is not None and self.strata in self.stages:
            raise ValueError("the strata level cannot also be a stage")
        return self


Communes = Annotated[TypeListCommunes | AllCommunes, Field(discriminator="method")]
Villages = Annotated[HqPositionVillages | HqRandomVillages, Field(discriminator="method")]


class Plan(_Model):
    """A sampling plan of one survey year."""

    id: str
    year: int
    title_vi: str
    title_en: str
    source: str
    kind: Literal["households", "services"]
    frame: str = Field(description="name of the demo frame directory under sampling/data")
    seed: int = 0
    recheck_share: float = Field(ge=0, le=1)
    #: what the re-check share is a share of: "returned" questionnaires (2024, 2025: "trên tổng số
    #: phiếu khảo sát thu về") or the planned "sample" (2021: "tối thiểu 20% cỡ mẫu")
    recheck_base: RecheckBase = "returned"
    #: the respondent criteria the plan lists (households plans): checked against the survey's
    #: screening questions by the tests
    eligibility: list[Eligibility] = Field(default_factory=list)
    design: DesignSpec | None = None
    communes: Communes | None = None
    villages: Villages | None = None
    households: HouseholdRule | None = None
    services: ServicePlan | None = None

    @model_validator(mode="after")
    def _parts(self) -> "Plan":
        if self.kind == "households":
            missing = [p for p in ("communes", "villages", "households") if getattr(self, p) is None]
            if missing:
                raise ValueError(f"a households plan needs {', '.join(missing)}")
            if self.services is not None:
                raise ValueError("a households plan has no services section")
        else:
            if self.services is None:
                raise ValueError("a services plan needs a services section")
        return self

    @property
    def content_hash(self) -> str:
        """A short hash of the plan's content, stored with a draw to pin the plan version."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class PlanError(Exception):
    """A plan file that cannot be used, with the file and the places of its problems."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


def plan_names() -> list[str]:
    """The shipped plans (``sampling/plans/*.yaml``)."""
    return sorted(p.stem for p in PLANS_DIR.glob("*.yaml"))


def load_plan(name_or_path: str | Path) -> Plan:
    """Load a shipped plan by name (``laichau-2025``) or a plan file by path."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = PLANS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise PlanError(str(name_or_path), [
            f"không có kế hoạch này; có: {', '.join(plan_names())} / "
            f"no such plan; available: {', '.join(plan_names())}"])
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PlanError(str(path), [f"YAML không hợp lệ / invalid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise PlanError(str(path), ["tệp không chứa một kế hoạch / the file holds no plan mapping"])
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(x) for x in e['loc']) or '(plan)'}: {e['msg']}" for e in exc.errors()
        ]
        raise PlanError(str(path), problems) from None
