"""Re-check draw: proportional, at least one per unit, seeded and order-independent."""

from __future__ import annotations

import random

import pytest

from sampling.recheck import allocate, draw_recheck


def _completed(sizes: dict[str, int]) -> list[tuple[str, int]]:
    rows, rid = [], 1
    for unit, n in sizes.items():
        for _ in range(n):
            rows.append((unit, rid))
            rid += 1
    return rows


def test_allocation_largest_remainder_hand_computed() -> None:
    # target 10 over 50/30/15/5 -> quotas 5.0/3.0/1.5/0.5 -> floors 5/3/1/0, one seat left
    # remainders .5 (15) and .5 (5): tie goes to the larger unit C -> 5/3/2/0 -> D bumped to 1
    assert allocate({"A": 50, "B": 30, "C": 15, "D": 5}, 10) == {"A": 5, "B": 3, "C": 2, "D": 1}
    assert allocate({"A": 2, "B": 0}, 5) == {"A": 2, "B": 0}
    assert allocate({}, 3) == {}


def test_draw_is_proportional_and_seeded() -> None:
    sizes = {"Bản Nà Khum": 50, "Bản Mường So": 48, "Tổ dân phố số 2": 100, "Bản Hon": 3}
    rows = _completed(sizes)
    d1 = draw_recheck(rows, 0.10, seed=2025)
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    d2 = draw_recheck(shuffled, 0.10, seed=2025)
    assert d1.picks == d2.picks
    assert d1.target == 21  # ceil(0.1 * 201)
    # quotas 5.22 / 5.01 / 10.45 / 0.31 -> floors 5/5/10/0 (20), the last seat to the largest
    # remainder (.45, TDP số 2), then Bản Hon raised to its minimum of 1: 22 in all
    assert d1.allocation == {"Bản Nà Khum": 5, "Bản Mường So": 5, "Tổ dân phố số 2": 11, "Bản Hon": 1}
    assert d1.total == 22
    ids = {p.response_id for p in d1.picks}
    assert len(ids) == d1.total
    unit_of = dict((rid, u) for u, rid in rows)
    for p in d1.picks:
        assert unit_of[p.response_id] == p.unit
        assert "Phúc tra 10%" in p.reason
    d3 = draw_recheck(rows, 0.10, seed=2026)
    assert d3.allocation == d1.allocation and d3.picks != d1.picks


def test_min_one_per_unit_can_exceed_target() -> None:
    rows = _completed({"a": 1, "b": 1, "c": 1, "d": 30})
    d = draw_recheck(rows, 0.1, seed=1)
    assert d.target == 4
    assert all(d.allocation[u] >= 1 for u in "abcd")
    assert d.total == sum(d.allocation.values())


def test_share_2024_and_bad_input() -> None:
    d = draw_recheck(_completed({"x": 30}), 0.20, seed=3)
    assert d.total == 6
    with pytest.raises(ValueError):
        draw_recheck(_completed({"x": 3}), 0.0, seed=1)
    with pytest.raises(ValueError, match="twice"):
        draw_recheck([("x", 1), ("y", 1)], 0.5, seed=1)
    assert draw_recheck([], 0.1, seed=1).total == 0
