"""The household stage of a draw: quotas over sub-hamlets, random draws, neighbour top-ups.

Split from :mod:`sampling.rules` because it is a stage of its own with its own arithmetic
(:func:`allocate`, largest remainders) and its own settled rules (``household.*`` reason codes,
listed in :mod:`sampling.rules`' docstring); it runs after the villages are chosen and only reads
the frame's household list.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sampling.builder import Builder, ordered, stage_rng
from sampling.collation import vi_sort_key
from sampling.frame_rows import HouseholdRow, UnitRow
from sampling.selection import Reason, SelectedHousehold

__all__ = ["allocate", "select_households"]


def allocate(sizes: Sequence[int], q: int) -> list[int]:
    """Split ``q`` over groups of the given sizes: proportional, at least one each if possible.

    Largest remainders; ties go to the group earlier in the (Vietnamese-sorted) order. With fewer
    than one per group available, the largest groups get one each.
    """
    n, total = len(sizes), sum(sizes)
    if q >= total:
        return list(sizes)
    if q < n:
        best = set(sorted(range(n), key=lambda i: (-sizes[i], i))[:q])
        return [1 if i in best else 0 for i in range(n)]
    ideal = [q * s / total for s in sizes]
    alloc = [min(s, max(1, math.floor(x))) for s, x in zip(sizes, ideal)]
    while sum(alloc) > q:
        i = max((i for i in range(n) if alloc[i] > 1), key=lambda i: (alloc[i] - ideal[i], -i))
        alloc[i] -= 1
    while sum(alloc) < q:
        i = max((i for i in range(n) if alloc[i] < sizes[i]), key=lambda i: (ideal[i] - alloc[i], -i))
        alloc[i] += 1
    return alloc


def _draw_groups(rng: random.Random, pool: Sequence[HouseholdRow], q: int,
                     cover: bool) -> list[tuple[HouseholdRow, str, int, int]]:
    """(household, sub-hamlet, drawn in its group, group size) for ``q`` households of ``pool``."""
    groups: dict[str, list[HouseholdRow]] = defaultdict(list)
    for hh in pool:
        groups[hh.sub_hamlet if cover else ""].append(hh)
    names = sorted(groups, key=vi_sort_key)
    for name in names:
        groups[name].sort(key=lambda h: vi_sort_key(h.household_id))
    alloc = allocate([len(groups[n]) for n in names], q)
    out: list[tuple[HouseholdRow, str, int, int]] = []
    for name, k in zip(names, alloc):
        members = groups[name]
        drawn = rng.sample(members, k) if k < len(members) else list(members)
        drawn.sort(key=lambda h: vi_sort_key(h.household_id))
        out.extend((hh, name, k, len(members)) for hh in drawn)
    return out


def _neighbours(b: Builder, village: UnitRow) -> list[UnitRow]:
    """Villages of the same commune, nearest first (see :mod:`sampling.rules`' docstring)."""
    listed = ordered(b.frame.children(village.parent_code, "village"))
    siblings = [v for v in listed if v.code != village.code]
    pos = {v.code: i for i, v in enumerate(listed)}
    me = pos[village.code]

    def key(v: UnitRow) -> tuple[Any, ...]:
        if village.neighbour_order is not None and v.neighbour_order is not None:
            d = v.neighbour_order - village.neighbour_order
            return (0, abs(d), 0 if d > 0 else 1, pos[v.code])
        d = pos[v.code] - me
        return (1, abs(d), 0 if d > 0 else 1, pos[v.code])

    return sorted(siblings, key=key)


def select_households(b: Builder, villages: Sequence[tuple[UnitRow, int]]) -> None:
    """Draw each sampled village's households (``villages``: village and quota), then top up the
    short ones from their neighbours."""
    rule = b.plan.households
    assert rule is not None
    taken: set[str] = set()
    short: list[tuple[UnitRow, int, int]] = []
    order = 0

    def take(hh: HouseholdRow, lives_in: str, counts_for: str, reason: Reason) -> None:
        """Add ``hh`` to the sample, in draw order, counted for village ``counts_for``."""
        nonlocal order
        order += 1
        b.sel.households.append(SelectedHousehold(hh.household_id, lives_in, counts_for, hh.sub_hamlet,
                                                  reason, order))
        taken.add(hh.household_id)

    for village, q in villages:
        pool = b.frame.households_of(village.code)
        rng = stage_rng(b.plan, b.seed, "households", village.code)
        if len(pool) <= q:
            for hh in sorted(pool, key=lambda h: vi_sort_key(h.household_id)):
                take(hh, village.code, village.code, Reason(
                    "household.all",
                    f"{village.display_name} chỉ có {len(pool)} hộ (cần {q}): lấy tất cả",
                    f"{village.display_name} has only {len(pool)} households (needs {q}): all taken"))
            if len(pool) < q:
                short.append((village, q, len(pool)))
            continue
        for hh, sub, k, n in _draw_groups(rng, pool, q, rule.cover_sub_hamlets):
            where_vi = f"{sub}" if sub else "bản"
            where_en = f"{sub}" if sub else "the village"
            take(hh, village.code, village.code, Reason(
                "household.drawn",
                f"chọn ngẫu nhiên {k}/{n} hộ của {where_vi} (phân bổ {q} hộ theo tỷ lệ, mỗi "
                f"phố/đội/xóm/điểm bản ít nhất 1 hộ; hạt giống {b.seed})",
                f"drawn at random, {k} of {n} households of {where_en} ({q} allocated in "
                f"proportion, at least 1 per sub-hamlet; seed {b.seed})"))
    # Top-ups after every village's own draw, so a neighbour's own quota is never starved.
    for village, q, got in short:
        missing = q - got
        if rule.top_up == "neighbour":
            for nb in _neighbours(b, village):
                if missing <= 0:
                    break
                pool = [hh for hh in b.frame.households_of(nb.code) if hh.household_id not in taken]
                if not pool:
                    continue
                k = min(missing, len(pool))
                rng = stage_rng(b.plan, b.seed, "top-up", village.code, nb.code)
                for hh, _sub, _k, _n in _draw_groups(rng, pool, k, rule.cover_sub_hamlets):
                    take(hh, nb.code, village.code, Reason(
                        "household.top_up",
                        f"bổ sung từ bản liền kề {nb.display_name} vì {village.display_name} "
                        f"chỉ có {got}/{q} hộ",
                        f"top-up from the neighbouring village {nb.display_name} because "
                        f"{village.display_name} has only {got} of {q} households"))
                missing -= k
        if missing > 0:
            b.shortfall(village.code, "village", q, q - missing, Reason(
                "household.shortfall",
                f"{village.display_name} thiếu {missing} hộ và không còn bản liền kề để bổ sung",
                f"{village.display_name} is {missing} households short and no neighbouring "
                f"village has any left"))
