"""Results pages: the same analysis, charts and exports as ``hailong indices|export|report``.

The analysis (``analytics.load.load_round`` → ``analytics.analysis.analyse`` with the round's
plan's design) runs in a worker thread and is cached under ``storage.staff_views.data_version``:
page views after the first cost a few reads, and a new answer or re-check outcome makes the next
view recompute. Officers see the unit tables of their own units only; downloads (which include
the anonymised answers) are for admins and analysts.

The analysis modules (pandas, numpy, matplotlib: about a second of import, ``python -X
importtime``) are imported by the handlers that use them, so that the console starts at once and
``hailong run --web`` does not load them until someone opens a results page.
"""

from __future__ import annotations

import asyncio
import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from aiohttp import web

from hailong.console.app import CACHE_KEY, CONFIG_KEY, DB_KEY
from hailong.console.views import render, round_of, scope_of
from storage.audit import audit
from storage.staff_views import data_version
from storage.units import list_units

DOWNLOADS = ("xlsx", "csv", "parquet", "sav", "report")


def _analyse(db_path: str, round_code: str, bootstrap: int) -> Any:
    from analytics.analysis import analyse
    from analytics.design import design_for_plan
    from analytics.load import load_round
    from analytics.settings import AnalyticsSettings

    lr = load_round(db_path, round_code)
    if len(lr.data) == 0:
        return None
    settings = AnalyticsSettings(bootstrap_b=bootstrap)
    design = design_for_plan(lr.plan_id, settings.lonely_psu)
    if design is not None:
        settings = settings.with_(design=design)
    return analyse(lr.data, lr.survey, round_code, settings, units=lr.units, dispositions=lr.dispositions)


async def analysis_for(request: web.Request, r: Any) -> Any:
    """The round's analysis, computed once per data version (one computation at a time per round)."""
    db = request.app[DB_KEY]
    cache = request.app[CACHE_KEY]
    version = await data_version(db, r.id)
    key = ("analysis", r.id)
    hit = cache.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]
    async with cache.setdefault(("lock", r.id), asyncio.Lock()):
        hit = cache.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        a = await asyncio.to_thread(_analyse, db.path, r.code, request.app[CONFIG_KEY].bootstrap)
        cache[key] = (version, a)
        return a


async def cached_bytes(request: web.Request, r: Any, key: tuple[Any, ...], make: Any, *args: Any) -> Any:
    """``make(*args)`` in a worker thread, kept until the round's data changes (charts, downloads:
    ten staff opening the results page cost one rendering)."""
    cache = request.app[CACHE_KEY]
    version = await data_version(request.app[DB_KEY], r.id)
    hit = cache.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]
    value = await asyncio.to_thread(make, *args)
    cache[key] = (version, value)
    return value


async def _codes_in_scope(request: web.Request) -> set[str] | None:
    scope = scope_of(request)
    if scope.units is None:
        return None
    return {u.code for u in await list_units(request.app[DB_KEY]) if u.id in scope.units}


def _unit_rows(a: Any, level: str, codes: set[str] | None) -> list[dict[str, Any]]:
    t = a.unit_table(level)
    if codes is not None:
        t = t[t[f"{level}_id"].astype(str).isin(codes)]
    t = t.sort_values("value", ascending=False, na_position="last")
    return [{"name": r.get(f"{level}_name", r.get(f"{level}_id")), "n": int(r["n"]), "value": r["value"],
             "lo": r["lo"], "hi": r["hi"], "status_vi": r["status_vi"], "status_en": r["status_en"],
             "rank": r["rank_range"]} for _, r in t.iterrows()]


async def results_page(request: web.Request) -> web.Response:
    scope = scope_of(request)
    scope.require("results")
    r = await round_of(request)
    a = await analysis_for(request, r)
    if a is None:
        return render("results.html", request, {"round": r, "a": None})
    from analytics.analysis import component_name, pillar_name

    ov = a.overall
    lo, hi = ov.intervals["overall"]
    plo, phi = ov.intervals.get("pillar", (None, None))
    clo, chi = ov.intervals.get("component", (None, None))
    pillars = [(pillar_name(a.survey, p), float(ov.pillars[p].iloc[0]),
                float(plo[p].iloc[0]) if plo is not None else None, float(phi[p].iloc[0]) if phi is not None else None)
               for p in ov.pillars.columns]
    comps = [(c, component_name(a.survey, c), float(ov.components[c].iloc[0]),
              float(clo[c].iloc[0]) if clo is not None else None, float(chi[c].iloc[0]) if chi is not None else None)
             for c in ov.components.columns]
    codes = await _codes_in_scope(request)
    levels = [(lv, _unit_rows(a, lv, codes)) for lv in a.levels if lv != "province" or codes is None]
    return render("results.html", request, {
        "round": r, "a": a, "overall": float(ov.overall.iloc[0]), "lo": float(lo.iloc[0]), "hi": float(hi.iloc[0]),
        "n": int(ov.n.iloc[0]), "pillars": pillars, "components": comps, "levels": levels,
        "target": a.settings.target, "charts": [lv for lv, rows in levels if 1 < len(rows) <= 40],
        "downloads": DOWNLOADS})


async def chart_png(request: web.Request) -> web.Response:
    """The report's charts: the overall index by unit of a level, and by component."""
    scope = scope_of(request)
    scope.require("results")
    r = await round_of(request)
    name = request.match_info["name"]
    a = await analysis_for(request, r)
    if a is None:
        raise web.HTTPNotFound()
    from analytics import charts
    from analytics.analysis import component_name

    if name == "components":
        ov = a.overall
        comps = list(ov.components.columns)
        clo, chi = ov.intervals.get("component", (None, None))
        png = await cached_bytes(
            request, r, ("chart", r.id, name), charts.bar_chart, [component_name(a.survey, c) for c in comps],
            ov.components.iloc[0].to_numpy(), clo.iloc[0].to_numpy() if clo is not None else None,
            chi.iloc[0].to_numpy() if chi is not None else None, a.settings.target,
            "Chỉ số theo thành phần / by component")
    elif name in a.levels:
        codes = await _codes_in_scope(request)
        rows = _unit_rows(a, name, codes)
        if not rows:
            raise web.HTTPNotFound()
        png = await cached_bytes(
            request, r, ("chart", r.id, name, frozenset(codes) if codes is not None else None),
            charts.index_dot_chart, [str(x["name"]) for x in rows], [x["value"] for x in rows],
            [x["lo"] for x in rows], [x["hi"] for x in rows], a.settings.target, f"Chỉ số theo {name}")
    else:
        raise web.HTTPNotFound()
    return web.Response(body=png, content_type="image/png")


async def download(request: web.Request) -> web.Response:
    scope = scope_of(request)
    scope.require("exports")
    r = await round_of(request)
    fmt = request.match_info["fmt"]
    if fmt not in DOWNLOADS:
        raise web.HTTPNotFound()
    a = await analysis_for(request, r)
    if a is None:
        raise web.HTTPNotFound()
    body, filename, ctype = await cached_bytes(request, r, ("download", r.id, fmt), _export_bytes, a, fmt, r.code)
    await audit(request.app[DB_KEY], scope.actor, "export.download", {"format": fmt}, r.id)
    return web.Response(body=body, content_type=ctype,
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _export_bytes(a: Any, fmt: str, code: str) -> tuple[bytes, str, str]:
    from analytics.exports import export
    from analytics.report import build_html

    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in code)
    if fmt == "report":
        return build_html(a).encode("utf-8"), f"report-{safe}.html", "text/html"
    with tempfile.TemporaryDirectory(prefix="hailong-export-") as tmp:
        out = Path(tmp) / (f"{safe}.{fmt}" if fmt in ("xlsx", "sav") else fmt)
        paths = export(a, fmt, out)
        if fmt == "xlsx":
            return paths[0].read_bytes(), f"{safe}.xlsx", \
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        if fmt == "sav":
            return paths[0].read_bytes(), f"{safe}.sav", "application/octet-stream"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in paths:
                zf.write(p, p.name)
        return buf.getvalue(), f"{safe}-{fmt}.zip", "application/zip"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/rounds/{code}/results", results_page)
    app.router.add_get("/rounds/{code}/results/chart/{name}.png", chart_png)
    app.router.add_get("/rounds/{code}/download/{fmt}", download)

