"""A realistic analysis for the report tests: the household questionnaire, two districts, villages
whose names repeat across communes (as "Bản Mới" does in Lai Châu), a previous round for the
change columns, dispositions for the response rates, and a unit with no response."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.analysis import Analysis, analyse
from analytics.settings import AnalyticsSettings
from demo.synthetic import hierarchy, household_answers
from survey_defs.loader import get_survey



def report_units() -> pd.DataFrame:
    u = hierarchy(2, 3, 3, province="Tỉnh Lai Châu")
    u["village_name"] = [f"Bản Nậm {int(v[-2:])}" for v in u["village_id"]]     # repeated in every commune
    return u


def report_analysis(previous: bool = True) -> Analysis:
    survey = get_survey("sipas-households")
    units = report_units()
    df = household_answers(survey, 420, seed=7, units=units)
    prev = household_answers(survey, 380, seed=8, units=units) if previous else None
    empty = pd.DataFrame([{**units.iloc[0].to_dict(), "commune_id": "D09C01", "commune_name": "Xã Không Phiếu",
                           "village_id": "D09C01V01", "village_name": "Bản Không Phiếu", "district_id": "D09",
                           "district_name": "Huyện 9"}])
    all_units = pd.concat([units, empty], ignore_index=True)
    rng = np.random.default_rng(3)
    disp = []
    for _, r in units.iterrows():
        done = int((df["village_id"] == r["village_id"]).sum())
        for d, k in (("complete", done), ("refused", int(rng.integers(0, 4))), ("invited", int(rng.integers(0, 3))),
                     ("ineligible", int(rng.integers(0, 2))), ("not_invited", 0)):
            disp.append({**{c: r[c] for c in units.columns}, "disposition": d, "count": k})
    return analyse(df, survey, "LC2025", AnalyticsSettings(bootstrap_b=80), units=all_units,
                   dispositions=pd.DataFrame(disp), previous_df=prev, previous_code="LC2024" if previous else "")


def chromium_or_skip() -> str:
    """The system Chromium (``$HAILONG_CHROMIUM``, /usr/bin/chromium, or on PATH), as the console's
    browser tests find it; skips (one line) without it unless HAILONG_REQUIRE_BROWSER=1 (CI)."""
    path = next((c for c in (os.environ.get("HAILONG_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser")
                 if c and Path(c).exists()), None) or shutil.which("chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path:
        return path
    if os.environ.get("HAILONG_REQUIRE_BROWSER") == "1":
        pytest.fail("HAILONG_REQUIRE_BROWSER=1 but no system Chromium or Playwright (apt-get install chromium)")
    pytest.skip("no system Chromium (/usr/bin/chromium) or Playwright: browser test skipped")
