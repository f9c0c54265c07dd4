"""quality.py's membership and "answered" tests on object columns (multiple-choice lists mixed
with other values) are vectorised; they must agree with the per-row reading they replaced, on
junk as well as on ordinary answers."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd

from analytics.quality import _forms, _is_answered, _member


def _member_per_row(s: pd.Series, values: list) -> np.ndarray:
    """The earlier code: a Python lambda per row once any cell is a list (else ``isin``)."""
    forms = [f for v in values for f in _forms(v)]
    if not s.map(lambda v: isinstance(v, (list, tuple))).any():
        return s.isin(forms).to_numpy()
    fs = set(map(str, forms))
    return s.map(lambda v: any(str(x) in fs for x in v) if isinstance(v, (list, tuple))
                 else (pd.notna(v) and str(v) in fs)).to_numpy(dtype=bool)


def _answered_per_row(s: pd.Series) -> np.ndarray:
    return s.map(lambda v: (len(v) > 0) if isinstance(v, (list, tuple)) else pd.notna(v)).to_numpy(dtype=bool)


CELLS = [[1, 3], [2], [], (3, 1), [None], ["1"], [1.0], 1, 2.0, "3", "x" * 500, None, np.nan, True,
         [True], "", ["không", "có"], [[1]], -1, "=1+1", 10**20]


def test_vectorised_membership_and_answered_agree_with_per_row_reading() -> None:
    rng = random.Random(21)
    for _ in range(200):
        cells = [rng.choice(CELLS) for _ in range(rng.randint(1, 40))]
        s = pd.Series(cells, dtype=object, index=rng.sample(range(1000), len(cells)))
        for values in ([1], [3, "có"], ["1"], [2.0], [True], [], ["x" * 500], [None]):
            assert _member(s, values).tolist() == _member_per_row(s, values).tolist(), (cells, values)
        assert _is_answered(s).tolist() == _answered_per_row(s).tolist(), cells
