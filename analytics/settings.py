"""Analysis settings: every rule the sources leave open is a setting with a documented default.

See docs/methodology.md: the official aggregation rule, the treatment of blank or
"not applicable" answers and the target are not confirmed by the text of Decision 1001/QĐ-BNV
(nor by the Lai Châu decisions 864/QĐ-UBND, 2032/QĐ-UBND, whose text was not found), so the
analyst can change them; every output says which rule it used.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from analytics.design import Design

Aggregation = Literal["pooled", "pillars"]
Variance = Literal["bootstrap", "linearisation", "srs"]

#: Levels of the administrative hierarchy, coarse to fine. A response carries the id and name of
#: each (``province_id``, ``province_name``, ...); "village" is the primary sampling unit (PSU).
UNIT_LEVELS: tuple[str, ...] = ("province", "district", "commune", "village")
#: Service dimensions of the 2021-style service-user survey (agency = sở/ngành, field = lĩnh vực).
SERVICE_LEVELS: tuple[str, ...] = ("agency", "field")
#: Demographic and mode groupings (columns of the wide table).
GROUPINGS: tuple[str, ...] = ("sex", "age_band", "ethnicity", "education", "occupation", "mode",
                              "channel")

#: Age bands of the household questionnaire, docs/methodology.md (code -> label).
AGE_BANDS: tuple[tuple[int, int | None, str], ...] = (
    (18, 24, "18–24"), (25, 34, "25–34"), (35, 49, "35–49"), (50, 60, "50–60"), (61, None, ">60"),
)


@dataclass(frozen=True, slots=True)
class AnalyticsSettings:
    """Knobs of the computation.

    - ``aggregation``: "pooled" (overall = mean of all satisfaction item indices; default because
      it reproduces the published 2024 national SIPAS from its pillars, 83.94, docs/methodology.md
      [derived]) or "pillars" (mean of the pillar indices; 83.965 on the same figures).
    - ``target``: the provincial target, "trên 85%" (Lai Châu reform plan for 2021, docs/sources.md).
    - ``na_values``: answer codes that mean "not applicable / don't know" and are excluded from
      every denominator like a missing answer (options labelled "Không áp dụng" / "Không biết"
      are recognised automatically as well).
    - ``design``: the sample design (``analytics.design.Design``, normally the round's plan's,
      ``design_from_plan``); None: assumed from the data's columns (``default_design``).
    - ``variance``: "bootstrap" (default: Rao–Wu rescaling bootstrap at the first stage within
      strata), "linearisation" (Taylor series, as R's svymean) or "srs" (respondents as a simple
      random sample: too narrow for a clustered sample; for comparison only).
    - ``lonely_psu``: a stratum with a single first-stage unit: "average" (default, R's
      ``survey.lonely.psu = "average"``) or "certainty"; used when ``design`` is None.
    - ``bootstrap_b`` / ``seed`` / ``confidence``: replicates, their seed, the interval level.
    - ``min_step_seconds``: below this median time per answered step a response is "too fast"
      (a 5-point item takes about 2-3 s to read on a phone; 1.5 s leaves room for fast readers).
    - ``straightline_min_items`` / ``straightline_min_blocks``: straight-lining needs at least this
      many satisfaction items, over at least this many matrix blocks, all with the same answer …
    - ``speeding_ratio``: … and a median step time below this share of the round's median
      (``quality.straightlining``: identical answers alone are not a warning sign).
    """

    aggregation: Aggregation = "pooled"
    target: float = 85.0
    na_values: tuple[object, ...] = ()
    design: Design | None = None
    variance: Variance = "bootstrap"
    lonely_psu: Literal["average", "certainty"] = "average"
    bootstrap_b: int = 1000
    seed: int = 20240101
    confidence: float = 0.95
    min_step_seconds: float = 1.5
    straightline_min_items: int = 6
    straightline_min_blocks: int = 2
    speeding_ratio: float = 0.5
    exclude_flags: tuple[str, ...] = field(default_factory=tuple)

    def with_(self, **changes: object) -> "AnalyticsSettings":
        """A copy with some settings changed (the dataclass is frozen so results stay traceable)."""
        return replace(self, **changes)  # type: ignore[arg-type]


DEFAULT_SETTINGS = AnalyticsSettings()
