"""Analyst commands: ``hailong indices``, ``hailong export``, ``hailong report`` and
``hailong responses template|import`` (paper questionnaires).

User errors print a Vietnamese + English message and exit with code 2, never a traceback.

The command bodies import the analysis modules when they run: every ``hailong`` command imports
this module to register its commands, and pandas, numpy and matplotlib would add about a second
to each of them (``python -X importtime``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from analytics.disclosure import DEFAULT_K
from storage.audit import record_export
from storage.commands import db_option, db_path, existing_db, fail, next_step
from storage.db import StorageError

console = Console()
err = Console(stderr=True)

responses_app = typer.Typer(help="Phiếu giấy: mẫu nhập liệu và nhập phiếu / paper questionnaires.",
                            no_args_is_help=True)


VarianceOpt = typer.Option("bootstrap", "--variance",
                           help="bootstrap (Rao–Wu, mặc định) | linearisation | srs (chỉ để so sánh)")
LonelyOpt = typer.Option("average", "--lonely-psu", help="Tầng chỉ có một đơn vị mẫu cấp một: average | certainty")
DesignWeightedOpt = typer.Option(False, "--design-weighted",
                                 help="Thêm chỉ số có trọng số thiết kế (tham khảo) / add the design-weighted index")
RakeOpt = typer.Option(None, "--rake", help="Tệp CSV cơ cấu dân số (dimension,category,target): thêm chỉ số "
                                            "hiệu chỉnh (tham khảo) / margins CSV: add the raked index")




def _audit_export(db: Optional[str], round_code: str, actor: Optional[str], details: dict) -> None:
    """Every export is in the audit log (who, when, what): Law 91/2025/QH15, docs/privacy.md."""
    try:
        asyncio.run(record_export(db_path(db), round_code, actor, details))
    except (StorageError, OSError) as exc:
        err.print(f"[bold yellow]Đã xuất nhưng không ghi được nhật ký kiểm toán / exported, but the audit log "
                  f"could not be written:[/] {exc}")
        raise typer.Exit(1)


def _settings(aggregation: str, target: float, bootstrap: int, exclude_flag: list[str], seed: int,
              variance: str = "bootstrap", lonely_psu: str = "average"):
    from analytics.quality import FLAGS
    from analytics.settings import AnalyticsSettings

    if variance not in ("bootstrap", "linearisation", "srs"):
        fail(f"phương pháp phương sai {variance!r} không hợp lệ; dùng bootstrap, linearisation hoặc srs / "
              "use bootstrap, linearisation or srs")
    if lonely_psu not in ("average", "certainty"):
        fail(f"quy tắc tầng một đơn vị {lonely_psu!r} không hợp lệ; dùng average hoặc certainty / "
              "use average or certainty")
    if aggregation not in ("pooled", "pillars"):
        fail(f"quy tắc gộp {aggregation!r} không hợp lệ; dùng pooled hoặc pillars / use pooled or pillars")
    bad = [f for f in exclude_flag if f not in FLAGS]
    if bad:
        fail(f"cảnh báo không tồn tại / unknown flag: {', '.join(bad)} (có / known: {', '.join(FLAGS)})")
    if bootstrap < 50:
        fail("số lần bootstrap phải ≥ 50 / bootstrap replicates must be ≥ 50")
    return AnalyticsSettings(aggregation=aggregation, target=target, bootstrap_b=bootstrap,  # type: ignore[arg-type]
                             exclude_flags=tuple(exclude_flag), seed=seed, variance=variance,  # type: ignore[arg-type]
                             lonely_psu=lonely_psu)  # type: ignore[arg-type]


def _analyse(db: Optional[str], round_code: str, settings, previous_round: Optional[str],
             design_weighted: bool = False, rake: Optional[Path] = None):
    from analytics.analysis import analyse
    from analytics.design import design_for_plan
    from analytics.load import LoadError, load_round
    from analytics.weights import WeightError, read_margins

    margins = None
    if rake is not None:
        try:
            margins = read_margins(rake)
        except WeightError as exc:
            fail(str(exc))
    path = existing_db(db)
    try:
        with console.status("Đang đọc dữ liệu / loading…"):
            lr = load_round(path, round_code)
            prev = load_round(path, previous_round).data if previous_round else None
    except LoadError as exc:
        fail(str(exc))
    if len(lr.data) == 0:
        fail(f"đợt {round_code} chưa có phiếu hoàn thành / round {round_code} has no completed response")
    design = design_for_plan(lr.plan_id, settings.lonely_psu)
    if design is not None:
        settings = settings.with_(design=design)
    with console.status("Đang tính chỉ số và khoảng tin cậy / computing indices…"):
        a = analyse(lr.data, lr.survey, round_code, settings, units=lr.units, dispositions=lr.dispositions,
                    previous_df=prev, frame=lr.frame if design_weighted else None, margins=margins,
                    previous_code=previous_round or "")
    ex = ", ".join(f"{k}: {v}" for k, v in lr.excluded.items() if v)
    if ex:
        console.print(f"Phiếu không tính / excluded: {ex}")
    return a


def _headline(a, all_levels: bool = False) -> None:
    """The headline, then pillars, components and units (every level with ``all_levels``), in one
    Vietnamese number format (analytics.numbers)."""
    from analytics.analysis import LEVEL_LABELS_VI, component_name, pillar_name
    from analytics.numbers import vn_int, vn_number, vn_pct, vn_range
    from analytics.report_content import VERDICT_VI, unit_names

    ov = a.overall
    lo, hi = ov.intervals["overall"]
    prec = ov.precision.get("overall", {})
    console.print(f"[bold]Chỉ số hài lòng chung / overall index:[/] {vn_pct(ov.overall.iloc[0])} "
                  f"(KTC 95% / 95% CI: {vn_range(lo.iloc[0], hi.iloc[0])}), {vn_int(ov.n.iloc[0])} phiếu / "
                  f"responses, quy tắc gộp / rule: {a.settings.aggregation}, chỉ tiêu / target "
                  f"{vn_number(a.settings.target, 0)}%")
    if "deff" in prec:
        console.print(f"Hiệu ứng thiết kế / design effect {vn_number(float(prec['deff'].iloc[0]))}, cỡ mẫu hiệu dụng / "
                      f"effective n {vn_int(float(prec['n_eff'].iloc[0]))}; thiết kế / design: "
                      f"{a.design.describe('vi') if a.design else '—'} ({a.design.source if a.design else ''})")
    for note in a.notes:
        console.print(f"[yellow]Lưu ý / note:[/] {note}")
    if a.sensitivity is not None:
        from analytics.sensitivity import LABELS
        top = a.sensitivity[a.sensitivity["level"].isin(["province", "all"])].iloc[0]
        for key in ("design_weighted", "raked"):
            if key in top.index:
                console.print(f"{LABELS[key]}: {vn_pct(float(top[key]))}")
    from analytics.compare import against_target

    def table(title: str, first: str, rows: list[tuple[str, float, float, float, str]], n: list[str] | None = None,
              rank: list[str] | None = None) -> None:
        tab = Table(title=title, title_justify="left")
        cols = ([("Hạng / rank", "right")] if rank else []) + [(first, "left")] + \
            ([("Số phiếu / n", "right")] if n else []) + \
            [("Chỉ số / index %", "right"), ("KTC 95% / CI", "right"), ("So với chỉ tiêu / vs target", "left")]
        for c, j in cols:
            tab.add_column(c, justify=j)  # type: ignore[arg-type]
        for i, (name, v, l, h, st) in enumerate(rows):
            tab.add_row(*([rank[i]] if rank else []), name, *([n[i]] if n else []), vn_number(v), vn_range(l, h),
                        VERDICT_VI.get(st, st))
        console.print(tab)

    def composite(kind: str, frame, namer) -> list[tuple[str, float, float, float, str]]:
        clo, chi = ov.intervals.get(kind, (None, None))
        vals = frame.iloc[0]
        los = clo.iloc[0] if clo is not None else vals * float("nan")
        his = chi.iloc[0] if chi is not None else vals * float("nan")
        st = against_target(vals.astype(float), los, his, a.settings.target)["status"]
        return [(namer(a.survey, c), float(vals[c]), float(los[c]), float(his[c]), str(st[c])) for c in frame.columns]

    if len(ov.pillars.columns):
        table("Trụ cột / pillars", "Trụ cột / pillar", composite("pillar", ov.pillars, pillar_name))
    if len(ov.components.columns):
        table("Thành phần / components", "Thành phần / component", composite("component", ov.components, component_name))
    levels = [lv for lv in ("district", "commune", "agency", "field", "village") if lv in a.levels
              and len(a.levels[lv].keys) > 1]
    for level in levels if all_levels else levels[:2]:
        t = a.unit_table(level)
        t = t.assign(_name=unit_names(a, level, t)).sort_values("value", ascending=False, na_position="last")
        lvl = LEVEL_LABELS_VI.get(level, level)
        rows = [(str(r["_name"]), r["value"], r["lo"], r["hi"], str(r["status"])) for _, r in t.iterrows()]
        ranks = ["—" if r["rank"] != r["rank"] else f"{vn_int(r['rank'])} ({r['rank_range']})" for _, r in t.iterrows()]
        table(f"Chỉ số theo {lvl.lower()} / by {level}", lvl, rows, [vn_int(x) for x in t["n"]], ranks)


def register(app: typer.Typer) -> None:
    """Mount the analyst commands on the ``hailong`` app."""

    @app.command("indices")
    def indices_cmd(round_code: str = typer.Option(..., "--round", help="Mã đợt / round code"),
                    db: Optional[str] = db_option(),
                    aggregation: str = typer.Option("pooled", help="pooled | pillars"),
                    target: float = typer.Option(85.0, help="Chỉ tiêu (%) / target"),
                    bootstrap: int = typer.Option(1000, help="Số lần bootstrap / replicates"),
                    exclude_flag: list[str] = typer.Option([], "--exclude-flag", help="Loại phiếu có cảnh báo"),
                    seed: int = typer.Option(20240101, help="Hạt giống ngẫu nhiên / seed"),
                    variance: str = VarianceOpt, lonely_psu: str = LonelyOpt,
                    design_weighted: bool = DesignWeightedOpt, rake: Optional[Path] = RakeOpt) -> None:
        """In chỉ số hài lòng của một đợt / print a round's indices."""
        a = _analyse(db, round_code, _settings(aggregation, target, bootstrap, exclude_flag, seed, variance,
                                               lonely_psu), None, design_weighted, rake)
        _headline(a, all_levels=True)
        next_step(f"hailong export --round {round_code} --format xlsx --out {round_code.lower()}.xlsx, "
                  f"hailong report --round {round_code} --out report/")

    @app.command("export")
    def export_cmd(round_code: str = typer.Option(..., "--round", help="Mã đợt / round code"),
                   fmt: str = typer.Option("xlsx", "--format", help="csv | xlsx | parquet | sav"),
                   out: Path = typer.Option(..., "--out", help="Tệp hoặc thư mục kết quả / output path"),
                   db: Optional[str] = db_option(),
                   aggregation: str = typer.Option("pooled", help="pooled | pillars"),
                   target: float = typer.Option(85.0),
                   bootstrap: int = typer.Option(1000),
                   exclude_flag: list[str] = typer.Option([], "--exclude-flag"),
                   previous_round: Optional[str] = typer.Option(None, "--previous", help="Đợt trước để so sánh"),
                   seed: int = typer.Option(20240101),
                   variance: str = VarianceOpt, lonely_psu: str = LonelyOpt,
                   design_weighted: bool = DesignWeightedOpt, rake: Optional[Path] = RakeOpt,
                   detail: str = typer.Option("public", "--detail",
                                              help="public (ẩn danh k, mặc định) | full (chỉ cán bộ phân tích)"),
                   k: int = typer.Option(DEFAULT_K, "--k", help="Số dòng tối thiểu mỗi nhóm nhận dạng / smallest "
                                                                 "group of village × age band × sex × ethnicity"),
                   role: str = typer.Option("staff", "--role", help="Vai trò / role: staff | analyst"),
                   actor: Optional[str] = typer.Option(None, "--actor", help="Người xuất / who exports")) -> None:
        """Xuất chỉ số và dữ liệu ẩn danh / export indices and anonymised data."""
        from analytics.exports import DETAILS, FORMATS, FULL_DETAIL_WARNING, export, raw_table

        if fmt not in FORMATS:
            fail(f"định dạng {fmt!r} không hỗ trợ; dùng / use: {', '.join(FORMATS)}")
        if detail not in DETAILS:
            fail(f"mức chi tiết {detail!r} không hỗ trợ; dùng / use: {', '.join(DETAILS)}")
        if not 1 <= k <= 1000:
            fail(f"k phải từ 1 đến 1000 / k must be between 1 and 1000, got {k}")
        if role not in ("staff", "analyst"):
            fail(f"vai trò {role!r} không hợp lệ; dùng / use: staff, analyst")
        if detail == "full" and role != "analyst":
            fail("dữ liệu chi tiết chỉ dành cho vai trò phân tích (--role analyst) / full detail is for the "
                  "analyst role only (--role analyst)")
        a = _analyse(db, round_code, _settings(aggregation, target, bootstrap, exclude_flag, seed, variance,
                                               lonely_psu), previous_round, design_weighted, rake)
        if detail == "full":
            err.print(f"[bold yellow]{FULL_DETAIL_WARNING}[/]")
        try:
            paths = export(a, fmt, out, detail, k)
        except OSError as exc:
            fail(f"không ghi được / cannot write {out}: {exc}")
        report = raw_table(a, detail, k)[1]
        _audit_export(db, round_code, actor, {"format": fmt, "detail": detail, "k": k, "role": role,
                                              "out": str(out), "rows": len(a.data),
                                              "disclosure": None if report is None else report.actions})
        _headline(a)
        if report is not None:
            console.print(f"Kiểm tra nhóm nhỏ (k = {k}) / small-cell check: {report.rows_out}/{report.rows_in} "
                          f"dòng công bố / rows published, nhóm nhỏ nhất / smallest group {report.smallest_group}")
            for what, n in report.actions:
                console.print(f"  – {what}: {n}")
        for p in paths:
            console.print(f"Đã ghi / written: {p}")
        next_step(f"hailong report --round {round_code} --out report/ [--previous ĐỢT_TRƯỚC / PREVIOUS_ROUND]")

    @app.command("report")
    def report_cmd(round_code: str = typer.Option(..., "--round", help="Mã đợt / round code"),
                   out: Path = typer.Option(..., "--out", help="Thư mục báo cáo / output directory"),
                   fmt: str = typer.Option("html", "--format", help="html (mặc định) | docx (Word)"),
                   db: Optional[str] = db_option(),
                   aggregation: str = typer.Option("pooled", help="pooled | pillars"),
                   target: float = typer.Option(85.0),
                   bootstrap: int = typer.Option(1000),
                   exclude_flag: list[str] = typer.Option([], "--exclude-flag"),
                   previous_round: Optional[str] = typer.Option(None, "--previous"),
                   seed: int = typer.Option(20240101),
                   variance: str = VarianceOpt, lonely_psu: str = LonelyOpt,
                   design_weighted: bool = DesignWeightedOpt, rake: Optional[Path] = RakeOpt) -> None:
        """Viết báo cáo tiếng Việt (HTML hoặc Word) / write the report (HTML or Word)."""
        from analytics.report import FORMATS, write_report

        if fmt not in FORMATS:
            fail(f"định dạng báo cáo {fmt[:40]!r} không hỗ trợ; dùng / use: {', '.join(FORMATS)}")
        a = _analyse(db, round_code, _settings(aggregation, target, bootstrap, exclude_flag, seed, variance,
                                               lonely_psu), previous_round, design_weighted, rake)
        try:
            p = write_report(a, out, fmt)
        except OSError as exc:
            fail(f"không ghi được / cannot write {out}: {exc}")
        _audit_export(db, round_code, None, {"format": "report", "out": str(out)})
        _headline(a)
        console.print(f"Báo cáo / report: {p}")
        next_step(f"mở / open {p}" + ("; bản Word / the Word version: --format docx" if fmt == "html" else ""))

    @responses_app.command("template")
    def template_cmd(survey_id: str = typer.Option(..., "--survey",
                                                   help="Mã bảng hỏi hoặc tệp YAML / survey id or YAML file"),
                     out: Path = typer.Option(..., "--out", help="Tệp .xlsx hoặc .csv")) -> None:
        """Tạo mẫu nhập phiếu giấy / write a paper entry template."""
        from analytics.paper import write_template
        from survey_defs.loader import get_survey, load_survey

        try:
            ref = Path(survey_id)
            survey = load_survey(ref) if ref.suffix.lower() in (".yaml", ".yml") or ref.exists() \
                else get_survey(survey_id)
        except Exception as exc:  # the loader's own message names the problem
            fail(f"không tải được bảng hỏi {survey_id[:80]!r} / cannot load survey: {str(exc)[:600]}")
        try:
            p = write_template(survey, out)
        except (ValueError, OSError) as exc:
            fail(str(exc))
        console.print(f"Đã ghi mẫu / template written: {p}")
        next_step(f"nhập phiếu vào tệp / type the forms in, rồi / then hailong responses import {p} --round CODE")

    @responses_app.command("import")
    def import_cmd(file: Path = typer.Argument(..., help="Tệp đã nhập (.xlsx/.csv)"),
                   round_code: str = typer.Option(..., "--round", help="Mã đợt / round code"),
                   db: Optional[str] = db_option(),
                   dry_run: bool = typer.Option(False, "--dry-run", help="Chỉ kiểm tra / validate only")) -> None:
        """Kiểm tra và nhập phiếu giấy (mode = paper) / validate and import paper questionnaires."""
        from analytics.paper import read_entry_file, round_context, store_rows, validate_rows

        path = existing_db(db)
        try:
            survey, codes = asyncio.run(round_context(path, round_code))
        except LookupError as exc:
            fail(str(exc))
        try:
            df = read_entry_file(file)
        except (FileNotFoundError, ValueError) as exc:
            fail(str(exc))
        rows, errors = validate_rows(df, survey, codes)
        if errors:
            tab = Table(title=f"{len(errors)} lỗi — không phiếu nào được nhập / {len(errors)} errors — nothing imported")
            for c in ("Dòng", "Cột", "Lỗi"):
                tab.add_column(c)
            for e in errors[:200]:
                tab.add_row(str(e.row), e.column, e.message)
            err.print(tab)
            if len(errors) > 200:
                err.print(f"… và {len(errors) - 200} lỗi khác / more errors")
            raise typer.Exit(1)
        if not rows:
            fail("tệp không có phiếu nào / the file has no rows")
        blank = [r for r in rows if r.missing]
        if blank:
            cells = sum(len(r.missing) for r in blank)
            console.print(f"[yellow]Lưu ý / note:[/] {len(blank)} phiếu có {cells} ô đánh giá để trống hoặc "
                          "“không trả lời”: coi là thiếu, không tính vào mẫu số của tiêu chí đó / "
                          f"{len(blank)} forms have {cells} rating items left blank or “no answer”: "
                          "counted as missing (out of the item's denominator)")
        if dry_run:
            console.print(f"Hợp lệ / valid: {len(rows)} phiếu (chưa nhập / not stored, --dry-run)")
            next_step("bỏ --dry-run để nhập / drop --dry-run to import")
            return
        try:
            ids = asyncio.run(store_rows(path, round_code, rows))
        except Exception as exc:  # storage errors are bilingual and name the item
            fail(f"không lưu được / not stored (không phiếu nào được nhập / nothing imported): {exc}")
        console.print(f"Đã nhập / imported: {len(ids)} phiếu giấy vào đợt {round_code}")
        next_step(f"hailong indices --round {round_code}")

    app.add_typer(responses_app, name="responses")
