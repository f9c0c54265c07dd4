"""Step 5 of the whole-round demo: indices, exports, the report, and the headline tables.

Split from :mod:`demo.round` because it only reads the closed round (through analytics) and
prints: the overall index against the target, pillars, the weakest criteria, communes,
dispositions and rates, channels and the output paths.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from analytics.analysis import analyse, component_name, pillar_name
from analytics.design import design_for_plan
from analytics.exports import export
from analytics.load import load_round
from analytics.report import vn_number, write_reports
from analytics.settings import AnalyticsSettings
from demo.fieldwork_steps import Fieldwork
from demo.previous import PREVIOUS_CODE
from demo.round_types import DemoConfig, DemoError, DemoResult, print_step, progress_bar
from fieldwork.dispositions import Disposition, DispositionCounts, LABELS_VI, disposition_from_status, rates
from storage.responses import read_responses

__all__ = ["analyse_and_report", "print_headline"]


def analyse_and_report(out: Console, config: DemoConfig, db_path: Path, out_dir: Path,
                        fw: Fieldwork) -> DemoResult:
    print_step(out, 5, "Chỉ số, xuất dữ liệu, báo cáo / indices, exports, report")
    settings = AnalyticsSettings(bootstrap_b=config.bootstrap)  # analytics' own seed: `hailong indices` agrees
    with out.status("Tính chỉ số và khoảng tin cậy / computing indices and intervals…"):
        lr = load_round(db_path, fw.round_code)
        if len(lr.data) == 0:
            raise DemoError("không có phiếu hoàn thành nào được tính / no completed response to analyse")
        # intervals follow the plan's design; the design-weighted index is shown beside the official one
        settings = settings.with_(design=design_for_plan(lr.plan_id))
        previous = load_round(db_path, PREVIOUS_CODE).data   # last year's paper round (demo/previous.py)
        a = analyse(lr.data, lr.survey, fw.round_code, settings, units=lr.units, dispositions=lr.dispositions,
                    frame=lr.frame, previous_df=previous, previous_code=PREVIOUS_CODE)
    exports_dir = out_dir / "exports"
    paths: dict[str, list[Path]] = {}
    with progress_bar(out) as progress:
        task = progress.add_task("Xuất / exporting", total=5)
        for fmt, target in (("csv", exports_dir / "csv"), ("xlsx", exports_dir / "hailong-demo.xlsx"),
                            ("parquet", exports_dir / "parquet"), ("sav", exports_dir / "hailong-demo.sav")):
            paths[fmt] = export(a, fmt, target)
            progress.advance(task)
        report = write_reports(a, out_dir / "report")[0]           # index.html and the Word version
        progress.advance(task)

    ov = a.overall
    lo, hi = ov.intervals["overall"]
    pillars = {pillar_name(a.survey, str(c)): float(ov.pillars[c].iloc[0]) for c in ov.pillars.columns}
    components = {component_name(a.survey, str(c)): float(ov.components[c].iloc[0]) for c in ov.components.columns}
    names = {it.step_id: it.name for it in a.items}
    items = ov.items.iloc[0].dropna().sort_values()
    weakest = [(names.get(k, k), float(v)) for k, v in items.head(5).items()]
    communes: list[tuple[str, int, float, float, float]] = []
    if "commune" in a.levels:
        ct = a.unit_table("commune")
        name_col = "commune_name" if "commune_name" in ct.columns else "commune_id"
        for _, r in ct.sort_values("value", na_position="last").iterrows():
            communes.append((str(r[name_col]), int(r["n"]), float(r["value"]), float(r["lo"]), float(r["hi"])))

    resp = read_responses(str(db_path), fw.round_id)
    statuses = Counter()
    by_channel: dict[str, Counter[str]] = {"telegram": Counter(), "zalo": Counter()}
    planned = {p.respondent_id: p.channel for p in fw.plans}
    for p in fw.plans:
        by_channel[p.channel]["invited"] += 1
    included = set(a.data["response_id"].tolist()) if "response_id" in a.data.columns else set()
    for r in resp.itertuples(index=False):
        # the channel the citizen was invited on (a page answer is stored with channel "web")
        ch = str(planned.get(int(r.respondent_id)) or r.channel or "?")
        c = by_channel.setdefault(ch, Counter())
        c["started"] += 1
        if r.respondent_status == "completed":
            c["completed"] += 1
        if int(r.response_id) in included:
            c["in_index"] += 1
    disp = lr.dispositions.groupby("disposition")["count"].sum().to_dict()
    counts = DispositionCounts({disposition_from_status(k): int(v) for k, v in disp.items()})
    rt = rates(counts)
    statuses.update({str(k): int(v) for k, v in disp.items()})
    personas: dict[str, dict[str, int]] = {}
    for o in fw.outcomes:
        personas.setdefault(o.persona, Counter())[o.result] += 1
    return DemoResult(
        out_dir=out_dir, db_path=db_path, report_path=report, cards_path=fw.cards_path, exports=paths,
        round_code=fw.round_code, subset="", target=settings.target,
        overall=float(ov.overall.iloc[0]), overall_lo=float(lo.iloc[0]), overall_hi=float(hi.iloc[0]),
        n_responses=int(ov.n.iloc[0]), pillars=pillars, components=components, weakest=weakest,
        communes=communes, dispositions=dict(sorted(statuses.items())),
        rates={"RR1": rt.rr1, "RR2": rt.rr2, "COOP1": rt.coop1, "REF1": rt.ref1, "CON1": rt.con1},
        channels={k: dict(sorted(v.items())) for k, v in sorted(by_channel.items())},
        personas={k: dict(sorted(v.items())) for k, v in sorted(personas.items())},
        recheck=fw.recheck, excluded=dict(lr.excluded), reasons=fw.reasons, errors=fw.errors)


def _pct(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return vn_number(x, digits)


def _status_vs_target(value: float, lo: float, hi: float, target: float, short: bool = False) -> str:
    """Above / below the target only when the whole 95% interval is; otherwise undecided."""
    if lo > target:
        return "[green]đạt / above[/]" if short else "[green]đạt chỉ tiêu / above the target[/]"
    if hi < target:
        return "[red]dưới / below[/]" if short else "[red]dưới chỉ tiêu / below the target[/]"
    return ("[yellow]chưa rõ / overlaps[/]" if short
            else "[yellow]chưa phân biệt được / not distinguishable from the target[/]")


_EXCLUDED_LABELS = {"not_submitted": "chưa gửi phiếu / not submitted",
                    "withdrawn": "rút lui / withdrawn",
                    "recheck_not_confirmed": "phúc tra không xác nhận / re-check not confirmed"}


def print_headline(out: Console, r: DemoResult) -> None:
    out.print()
    out.rule("[bold]Kết quả / results[/bold]")
    out.print(f"[bold]Chỉ số hài lòng chung / overall satisfaction index: {_pct(r.overall, 2)}%[/] "
              f"(KTC 95% / 95% CI {_pct(r.overall_lo, 2)}–{_pct(r.overall_hi, 2)}) · chỉ tiêu / target "
              f"{_pct(r.target, 0)}% · {_status_vs_target(r.overall, r.overall_lo, r.overall_hi, r.target)} · "
              f"{r.n_responses} phiếu được tính / responses counted")

    t = Table(title="Trụ cột và thành phần / pillars and components (%)", title_justify="left")
    t.add_column("Trụ cột / pillar · thành phần / component")
    t.add_column("Chỉ số / index", justify="right")
    for name, v in r.pillars.items():
        t.add_row(f"[bold]{name}[/]", f"[bold]{_pct(v)}[/]")
    for name, v in r.components.items():
        t.add_row(f"  {name}", _pct(v))
    out.print(t)

    t = Table(title="Năm tiêu chí thấp nhất / the five weakest criteria (%)", title_justify="left")
    t.add_column("Tiêu chí / criterion")
    t.add_column("Chỉ số / index", justify="right")
    for name, v in r.weakest:
        t.add_row(name, _pct(v))
    out.print(t)

    if r.communes:
        t = Table(title="Theo xã / by commune (%)", title_justify="left")
        for c, j in (("Xã / commune", "left"), ("Phiếu / n", "right"), ("Chỉ số / index", "right"),
                     ("KTC 95% / CI", "right"), ("So với 85% / vs target", "left")):
            t.add_column(c, justify=j)  # type: ignore[arg-type]
        for name, n, v, lo, hi in r.communes:
            t.add_row(name, str(n), _pct(v), f"{_pct(lo)}–{_pct(hi)}",
                      _status_vs_target(v, lo, hi, r.target, short=True))
        out.print(t)

    t = Table(title="Kết quả liên hệ / dispositions (AAPOR)", title_justify="left")
    t.add_column("Kết quả / disposition")
    t.add_column("Số hộ / households", justify="right")
    order = {d.value: i for i, d in enumerate((Disposition.COMPLETE, Disposition.PARTIAL, Disposition.STARTED,
                                                Disposition.OPENED, Disposition.REFUSED, Disposition.INELIGIBLE,
                                                Disposition.INVITED, Disposition.UNREACHABLE,
                                                Disposition.SUBSTITUTED, Disposition.NOT_INVITED))}
    for k, v in sorted(r.dispositions.items(), key=lambda kv: order.get(kv[0], 99)):
        try:
            label = f"{LABELS_VI[Disposition(k)]} / {k}"
        except ValueError:
            label = k
        t.add_row(label, str(v))
    t.add_row("[bold]Tổng / total[/]", f"[bold]{sum(r.dispositions.values())}[/]")
    out.print(t)
    rates_line = " · ".join(f"{k} {_pct(None if v is None else 100 * v)}%" for k, v in r.rates.items())
    out.print(f"Tỷ lệ / rates: {rates_line}  [dim](RR1 phản hồi / response, COOP1 hợp tác / cooperation, "
              "REF1 từ chối / refusal, CON1 liên hệ được / contact)[/]")

    t = Table(title="Theo kênh / by channel", title_justify="left")
    for c in ("Kênh / channel", "Được mời / invited", "Đã bắt đầu / started", "Hoàn thành / completed",
              "Tính vào chỉ số / in the index"):
        t.add_column(c, justify="left" if c.startswith("Kênh") else "right")
    for ch, c in r.channels.items():
        t.add_row(ch, str(c.get("invited", 0)), str(c.get("started", 0)), str(c.get("completed", 0)),
                  str(c.get("in_index", 0)))
    out.print(t)
    ex = ", ".join(f"{_EXCLUDED_LABELS.get(k, k)} {v}" for k, v in r.excluded.items() if v)
    if ex:
        out.print(f"Không tính vào chỉ số / not counted: {ex}")
    if r.errors:
        out.print(f"[bold red]{len(r.errors)} lỗi khi mô phỏng / simulation errors:[/]")
        for e in r.errors[:10]:
            out.print(f"  • {e}")

    out.print()
    out.print("[bold]Tệp kết quả / outputs[/]")
    out.print(f"  Cơ sở dữ liệu / database: {r.db_path}")
    out.print(f"  Phiếu mời QR / QR cards:  {r.cards_path}")
    out.print(f"  Báo cáo HTML / report:    {r.report_path}")
    for fmt, ps in r.exports.items():
        where = ps[0] if len(ps) == 1 else f"{ps[0].parent}/ ({len(ps)} tệp / files)"
        out.print(f"  {fmt.upper():<7} {where}")
    out.print(f"[dim]Xong trong / done in {r.elapsed_s:.0f} s.[/]")
