"""Re-check (phúc tra) draw: a seeded, unit-stratified sample of completed responses.

The plans have the Fatherland Front and the Veterans' Association re-check a share of the returned
questionnaires (20% in 2021 and 2024 — "tối thiểu 20%", at least 20% — and 10% in 2025). A
re-check that is concentrated in a few villages says nothing about the others, so the draw is
stratified by unit:

1. target ``T = ceil(share × B)`` (ceil, because the plans say "at least"), where the base ``B``
   is what the plan's ``recheck_base`` says: the ``N`` completed (returned) questionnaires (2024,
   2025: "trên tổng số phiếu khảo sát thu về") or the planned sample size (2021: "tối thiểu 20%
   cỡ mẫu điều tra"); never more than the ``N`` completed, which are all that can be re-checked;
2. ``T`` is allocated to units in proportion to their completions by the largest-remainder
   (Hamilton) method — floors first, then the leftover seats to the largest fractional parts,
   ties broken by more completions, then by the unit key — so the allocation is exact and
   reproducible;
3. every unit with at least one completion gets at least one re-check (this can push the total
   a little above ``T``; the result says so), and no unit more than it has;
4. inside a unit, responses are drawn by a PRNG seeded with ``(seed, unit)``, after sorting, so the
   same inputs in any order give the same draw, and adding a unit does not reshuffle the others.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

__all__ = ["RecheckDraw", "RecheckPick", "allocate", "draw_recheck", "DEFAULT_SHARES"]

#: Re-check share by plan year, from the seeds (2021 and 2024: 20%, 2025: 10%).
DEFAULT_SHARES: dict[int, float] = {2021: 0.20, 2024: 0.20, 2025: 0.10}


@dataclass(frozen=True, slots=True)
class RecheckPick:
    """One response chosen for re-check, with the reason stored beside it."""

    unit: Hashable
    response_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class RecheckDraw:
    picks: tuple[RecheckPick, ...]
    allocation: dict[Hashable, int]      # unit -> number re-checked
    completions: dict[Hashable, int]     # unit -> completed responses
    target: int                          # ceil(share × base), at most the completed ones
    share: float
    seed: int
    base: int = 0                        # what the share is a share of (see the module docstring)

    @property
    def total(self) -> int:
        return len(self.picks)


def allocate(sizes: dict[Hashable, int], target: int) -> dict[Hashable, int]:
    """Largest-remainder allocation of ``target`` over ``sizes``, min 1 per non-empty unit,
    capped at each unit's size. Pure and deterministic (ties: larger unit, then sorted key)."""
    units = [u for u, n in sizes.items() if n > 0]
    total = sum(sizes[u] for u in units)
    if not units or target <= 0:
        return {u: 0 for u in sizes}
    target = min(target, total)
    quotas = {u: target * sizes[u] / total for u in units}
    alloc = {u: math.floor(quotas[u]) for u in units}
    left = target - sum(alloc.values())
    order = sorted(units, key=lambda u: (-(quotas[u] - alloc[u]), -sizes[u], str(u)))
    for u in order[:left]:
        alloc[u] += 1
    for u in units:
        alloc[u] = min(max(alloc[u], 1), sizes[u])
    return {u: alloc.get(u, 0) for u in sizes}


def draw_recheck(completed: Iterable[tuple[Hashable, int]], share: float, seed: int,
                 unit_names: dict[Hashable, str] | None = None, base_size: int | None = None) -> RecheckDraw:
    """Draw ``share`` of the completed responses, stratified by unit.

    ``completed`` holds ``(unit, response_id)`` pairs; ``unit_names`` gives the names written into
    each pick's reason; ``base_size``: the planned sample size when the plan's share is of the
    sample (None: of the completed ones). Raises ValueError for a share outside (0, 1], a
    negative base or a response listed twice.
    """
    if base_size is not None and base_size < 0:
        raise ValueError(f"base size must be ≥ 0, got {base_size}")
    if not 0.0 < share <= 1.0:
        raise ValueError(f"re-check share must be in (0, 1], got {share}")
    by_unit: dict[Hashable, list[int]] = {}
    seen: set[int] = set()
    for unit, rid in completed:
        if rid in seen:
            raise ValueError(f"response {rid} listed twice")
        seen.add(rid)
        by_unit.setdefault(unit, []).append(int(rid))
    n = len(seen)
    base = n if base_size is None else base_size
    # A tiny epsilon keeps e.g. 0.1 × 30 = 3.0000000000000004 from becoming 4.
    target = min(n, math.ceil(share * base - 1e-9)) if n else 0
    sizes = {u: len(v) for u, v in by_unit.items()}
    alloc = allocate(sizes, target)
    names = unit_names or {}
    picks: list[RecheckPick] = []
    for unit in sorted(by_unit, key=str):
        ids = sorted(by_unit[unit])
        k = alloc[unit]
        rng = random.Random(f"recheck:{seed}:{unit}")
        chosen = sorted(rng.sample(ids, k))
        label = names.get(unit, str(unit))
        reason = (f"Phúc tra {share:.0%}: rút ngẫu nhiên {k}/{len(ids)} phiếu hoàn thành của {label} "
                  f"(phân bổ theo tỷ lệ, phần dư lớn nhất, tối thiểu 1; seed {seed}) / "
                  f"re-check {share:.0%}: random {k} of {len(ids)} completed in {label}")
        picks.extend(RecheckPick(unit, rid, reason) for rid in chosen)
    return RecheckDraw(tuple(picks), alloc, sizes, target, share, seed, base)
