"""Step 1 of the whole-round demo: draw the sample with the plan's rules and keep a subset.

The demo invites the households of a few communes spread over the province (:func:`demo_subset`)
so that a run stays short; the reasons staff would read are printed. Split from :mod:`demo.round`
so that each step of the story is one module.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from analytics.report import vn_number
from demo.round_types import PLAN_ID, SURVEY_ID, DemoConfig, DemoError, print_step
from sampling.cli_helpers import DEFAULT_FRAME_DIR
from sampling.frames import load_frame_dir
from sampling.plan_schema import PlanError, load_plan
from sampling.rules import draw
from sampling.selection import SamplingError, Selection
from survey_defs.loader import get_survey
from survey_defs.schema import Survey

__all__ = ["demo_subset", "default_communes", "draw_sample", "written_reasons"]


def draw_sample(out: Console, config: DemoConfig) -> tuple[Survey, Any, Any, Any]:
    print_step(out, 1, "Chọn mẫu / drawing the sample")
    survey = get_survey(SURVEY_ID)
    try:
        plan = load_plan(PLAN_ID)
    except PlanError as exc:
        raise DemoError("không đọc được kế hoạch / cannot read the plan: " + "; ".join(exc.problems)) from exc
    with out.status("Đọc khung mẫu / reading the frame…"):
        loaded = load_frame_dir(DEFAULT_FRAME_DIR, prefer=plan.frame)
    if not loaded.ok or loaded.frame is None:
        first = loaded.errors[0] if loaded.errors else None
        raise DemoError(f"khung mẫu demo lỗi / the demo frame has errors: {first}")
    frame = loaded.frame
    try:
        selection = draw(plan, frame, config.seed if config.seed != plan.seed else None)
    except SamplingError as exc:
        raise DemoError("; ".join(exc.problems)) from exc
    t = Table(title=f"{plan.title_vi} — kế hoạch / plan {plan.id}, seed {selection.seed}", title_justify="left")
    t.add_column("Cấp / level")
    t.add_column("Số / count", justify="right")
    t.add_column("Theo quy tắc / by rule", overflow="fold")
    for level in ("commune", "village"):
        units = selection.units_at(level)
        rules = Counter(u.reason.code for u in units)
        t.add_row(level, str(len(units)), ", ".join(f"{k}: {v}" for k, v in rules.most_common()))
    rules = Counter(h.reason.code for h in selection.households)
    t.add_row("household", str(len(selection.households)), ", ".join(f"{k}: {v}" for k, v in rules.most_common()))
    out.print(f"Khung mẫu / frame: {vn_number(len(frame.households))} hộ / households, "
              f"{len(frame.at_level('village'))} thôn / villages, {len(frame.at_level('commune'))} xã / communes.")
    out.print(t)
    out.print("[bold]Vì sao được chọn / why chosen[/] (ví dụ / examples):")
    for line in written_reasons(selection)[:5]:
        out.print(f"  • {line}")
    return survey, plan, frame, selection


def written_reasons(selection: Any) -> list[str]:
    """A few written reasons of different rules, as staff read them."""
    lines: list[str] = []
    seen: set[str] = set()
    for u in [*selection.units_at("village"), *selection.units_at("commune")]:
        if u.reason.code not in seen:
            seen.add(u.reason.code)
            lines.append(f"{u.name}: {u.reason.vi}")
    for h in selection.households:
        if h.reason.code not in seen:
            seen.add(h.reason.code)
            lines.append(f"hộ / household {h.household_id}: {h.reason.vi}")
    return lines


def demo_subset(selection: Any, citizens: int, communes: int) -> tuple[Any, str]:
    """Keep ``communes`` communes spread over the sampled list and ``citizens`` households in
    total, the first ones of each sampled village's list (in sample order), spread evenly.

    Returns the reduced selection (the same units, reasons and households as the full draw, just
    fewer of them) and a sentence saying how the subset was taken.
    """
    all_communes = selection.units_at("commune")
    if not all_communes:
        raise DemoError("kế hoạch không chọn xã nào / the plan selected no commune")
    k = max(1, min(communes, len(all_communes)))
    picked = [all_communes[round(i * len(all_communes) / k)] for i in range(k)]
    codes = {c.code for c in picked}
    villages = [u for u in selection.units_at("village") if u.parent_code in codes]
    if not villages:
        raise DemoError("các xã được chọn không có thôn nào / the chosen communes have no village")
    n = max(1, citizens)
    base, extra = divmod(n, len(villages))
    households = []
    for i, v in enumerate(villages):
        want = base + (1 if i < extra else 0)
        households.extend(selection.households_for(v.code)[:want])
    keep_units = {u.code for u in selection.units if u.level == "province"} | codes | {v.code for v in villages}
    sub = Selection(
        plan_id=selection.plan_id, plan_hash=selection.plan_hash, seed=selection.seed,
        frame_sources=list(selection.frame_sources),
        units=[u for u in selection.units if u.code in keep_units],
        households=households, service_users=[],
        shortfalls=[s for s in selection.shortfalls if s.unit_code in keep_units],
        substitutions=[], lists=dict(selection.lists))
    names = ", ".join(c.name for c in picked)
    how = (f"{len(households)} hộ của {k} xã ({names}) — {len(villages)} thôn được chọn, mỗi thôn "
           f"lấy các hộ đầu danh sách mẫu / {len(households)} households of {k} communes, the first "
           f"ones of each sampled village's list")
    return sub, how


def default_communes(citizens: int) -> int:
    return max(2, min(8, round(citizens / 45)))
