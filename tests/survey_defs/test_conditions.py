"""One condition semantics (survey_defs/conditions.py): the engine's compiled closures and
analytics' vectorised evaluation give the same answer on the same answers, for every form a value
may take (int, numeric string, word, list of picks, missing, float from a table)."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter

from analytics.quality import evaluate
from survey_defs.conditions import as_number, compile_condition, matches, value_forms
from survey_defs.schema import Condition

_COND = TypeAdapter(Condition)

CONDITIONS: list[dict[str, Any]] = [
    {"equals": ["q", 4]},
    {"equals": ["q", "4"]},
    {"equals": ["q", "04"]},
    {"equals": ["q", "a"]},
    {"in": ["q", [1, "2", "x"]]},
    {"not": {"equals": ["q", 3]}},
    {"answered": "q"},
    {"lt": ["q", 3]},
    {"ge": ["q", 2.5]},
    {"all": [{"answered": "q"}, {"not": {"in": ["r", [1, 2]]}}]},
    {"any": [{"equals": ["q", 5]}, {"gt": ["r", 1]}]},
]

#: Values a stored answer may hold (None: not answered).
VALUES: list[Any] = [None, 0, 1, 2, 3, 4, 5, "1", "2", "4", "04", " 4 ", "+4", "a", "x", "2.5", "abc",
                     [1, 2], ["4"], [4], ["a", "x"], [], True]



@pytest.mark.parametrize("cond", CONDITIONS, ids=lambda c: str(c))
def test_engine_and_analytics_agree_on_mixed_columns(cond: dict[str, Any]) -> None:
    rng = random.Random(13)
    rows = [{"q": rng.choice(VALUES), "r": rng.choice(VALUES)} for _ in range(400)]
    c = _COND.validate_python(cond)
    pred = compile_condition(c)
    want = [pred({k: v for k, v in row.items() if v is not None}) for row in rows]
    got = evaluate(c, pd.DataFrame(rows, columns=["q", "r"], dtype=object)).tolist()
    bad = [(rows[i], want[i], got[i]) for i in range(len(rows)) if want[i] != got[i]]
    assert not bad, bad[:5]


@pytest.mark.parametrize("cond", CONDITIONS, ids=lambda c: str(c))
def test_engine_and_analytics_agree_on_numeric_columns(cond: dict[str, Any]) -> None:
    """Analytics reads scale answers as float columns with NaN for missing: same answers."""
    rng = random.Random(7)
    rows = [{"q": rng.choice([None, 0, 1, 2, 3, 4, 5]), "r": rng.choice([None, 1, 2, 3])} for _ in range(300)]
    c = _COND.validate_python(cond)
    pred = compile_condition(c)
    want = [pred({k: v for k, v in row.items() if v is not None}) for row in rows]
    df = pd.DataFrame(rows, columns=["q", "r"]).astype(float)
    assert df["q"].dtype.kind == "f"
    assert evaluate(c, df).tolist() == want


def test_value_forms_and_numbers() -> None:
    assert value_forms(4) == {4, "4"}
    assert value_forms("4") == {4, "4"}
    assert value_forms("a") == {"a"}
    assert matches([1, 4], value_forms("4")) and not matches(["04"], value_forms(4))
    assert not matches(None, value_forms(4)) and not matches(math.nan, value_forms(4))
    assert not matches({"forged": 1}, value_forms(4))      # junk from bad data never matches
    assert as_number(" 2.5 ") == 2.5 and as_number(True) is None and as_number("nan") is None
    assert as_number(np.float64(3)) == 3.0 and as_number([1]) is None
