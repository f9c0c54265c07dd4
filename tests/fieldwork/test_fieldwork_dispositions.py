"""Dispositions and AAPOR rates, checked against hand-computed values."""

from __future__ import annotations

import pytest

from fieldwork.dispositions import (
    AAPOR_GROUP,
    Disposition as D,
    DispositionCounts,
    counts_by,
    disposition_from_status,
    rates,
    rates_by,
)


def test_every_disposition_has_a_group() -> None:
    assert set(AAPOR_GROUP) == set(D)


def test_status_mapping() -> None:
    assert disposition_from_status("sampled") is D.NOT_INVITED
    assert disposition_from_status("sampled", invited=True) is D.INVITED
    assert disposition_from_status("INVITED") is D.INVITED
    assert disposition_from_status("opened") is D.OPENED
    assert disposition_from_status("started", answered=3, partial_threshold=10) is D.STARTED
    assert disposition_from_status("started", answered=10, partial_threshold=10) is D.PARTIAL
    assert disposition_from_status("opened", answered=2) is D.STARTED
    assert disposition_from_status("completed") is D.COMPLETE
    assert disposition_from_status("refused") is D.REFUSED
    assert disposition_from_status("unreachable") is D.UNREACHABLE
    assert disposition_from_status("substituted") is D.SUBSTITUTED
    with pytest.raises(ValueError, match="bogus"):
        disposition_from_status("bogus")


def test_rates_hand_computed() -> None:
    # I=40, P=10, R = refused 5 + started 3 + opened 2 = 10, NC = invited 20 + unreachable 5 = 25,
    # UH = not invited 15, NE = 5 (excluded everywhere)
    c = DispositionCounts({D.COMPLETE: 40, D.PARTIAL: 10, D.REFUSED: 5, D.STARTED: 3, D.OPENED: 2,
                           D.INVITED: 20, D.UNREACHABLE: 5, D.NOT_INVITED: 15, D.INELIGIBLE: 5})
    r = rates(c, e=0.6)
    den = 50 + 35 + 15  # 100
    assert r.rr1 == pytest.approx(40 / den)
    assert r.rr2 == pytest.approx(50 / den)
    assert r.rr3 == pytest.approx(40 / (85 + 0.6 * 15))
    assert r.coop1 == pytest.approx(40 / 60)
    assert r.coop2 == pytest.approx(50 / 60)
    assert r.ref1 == pytest.approx(10 / den)
    assert r.con1 == pytest.approx(60 / 100)
    assert r.total_cases == 105 and r.eligible_cases == 85


def test_empty_rates_are_none_not_zero() -> None:
    r = rates(DispositionCounts({}))
    assert r.rr1 is None and r.coop1 is None and r.con1 is None
    only_ineligible = rates(DispositionCounts({D.INELIGIBLE: 3}))
    assert only_ineligible.rr2 is None


def test_rates_by_unit_and_channel() -> None:
    rows = [("telegram", D.COMPLETE), ("telegram", D.INVITED), ("zalo", D.REFUSED), ("zalo", D.COMPLETE),
            ("zalo", D.COMPLETE)]
    by = rates_by(rows)
    assert by["telegram"].rr1 == 0.5
    assert by["zalo"].coop1 == pytest.approx(2 / 3)
    counts = counts_by(rows)
    total = counts["telegram"] + counts["zalo"]
    assert total[D.COMPLETE] == 3 and total.total == 5


def test_bad_e_refused() -> None:
    with pytest.raises(ValueError):
        rates(DispositionCounts({}), e=1.5)
