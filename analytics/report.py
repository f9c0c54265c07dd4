"""The report of a round as one self-contained HTML file (``index.html``, charts embedded as PNG),
laid out for A4: it reads on screen, prints on paper and can be e-mailed or opened offline.

What it says is built once in ``report_content`` (shared with the Word version, ``report_docx``);
this module only renders it. The numbers come from the same ``Analysis`` as the exports.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from analytics.analysis import Analysis
from analytics.numbers import vn_number  # noqa: F401  (kept importable from here: CLI and demo use it)
from analytics.report_content import build_report
from analytics.report_model import Chart, Headline, Heading, KeyFigures, Para, Report, Section, Table

FORMATS = ("html", "docx")
VERDICT_COLUMN = "So với chỉ tiêu"

CSS = """
@page { size: A4; margin: 16mm 15mm 16mm 15mm; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 10pt; line-height: 1.4; color: #1a1a1a;
       max-width: 180mm; margin: 0 auto; padding: 8mm 6mm; }
h1 { font-size: 15pt; margin: 0 0 2pt; color: #123a6b; }
.subtitle { margin: 0 0 8pt; color: #444; }
h2 { font-size: 13pt; color: #123a6b; border-bottom: 1.5pt solid #123a6b; padding-bottom: 2pt; margin: 14pt 0 6pt; }
h3 { font-size: 11pt; margin: 12pt 0 4pt; color: #123a6b; }
h4 { font-size: 10pt; margin: 10pt 0 3pt; }
section.new-page { break-before: page; }
.headline { border-left: 6pt solid #888; background: #f3f6fa; padding: 6pt 10pt; margin: 4pt 0 8pt; }
.headline .value { font-size: 17pt; font-weight: bold; }
.headline .interval { font-size: 10.5pt; }
.headline p { margin: 3pt 0; }
.headline.met { border-color: #1b7837; } .headline.not_met { border-color: #b2182b; }
.headline.unclear { border-color: #e08214; }
.verdict-met { color: #1b7837; font-weight: bold; } .verdict-not_met { color: #b2182b; font-weight: bold; }
.verdict-unclear { color: #b35806; font-weight: bold; } .verdict-no_data { color: #777; }
.figures { display: grid; grid-template-columns: repeat(3, 1fr); gap: 5pt; margin: 6pt 0; }
.figure-card { border: 0.75pt solid #c9d3df; padding: 4pt 6pt; break-inside: avoid; }
.figure-card .label { font-size: 8pt; color: #555; }
.figure-card .big { font-size: 13pt; font-weight: bold; }
.figure-card .detail { font-size: 7.5pt; color: #555; }
table { border-collapse: collapse; width: 100%; font-size: 8.5pt; margin: 4pt 0 8pt; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
th, td { border: 0.5pt solid #c8c8c8; padding: 2pt 4pt; vertical-align: top; overflow-wrap: break-word; }
th { background: #e9eef5; text-align: left; font-weight: bold; }
td.r { text-align: right; white-space: nowrap; } th.r { text-align: right; }
tr.v-met td.verdict { color: #1b7837; font-weight: bold; }
tr.v-not_met td.verdict { color: #b2182b; font-weight: bold; }
tr.v-unclear td.verdict { color: #b35806; font-weight: bold; }
figure { margin: 6pt 0; break-inside: avoid; }
figure img { width: 100%; height: auto; display: block; }
p.note { color: #4a4a4a; font-size: 8.5pt; margin: 3pt 0 6pt; }
p.lead { font-size: 10.5pt; }
footer { margin-top: 14pt; font-size: 8pt; color: #666; }
@media print { body { max-width: none; padding: 0; } }
"""


def _esc(s: str) -> str:
    return html.escape(str(s))


def _headline(h: Headline) -> str:
    return (f'<div class="headline {h.verdict}" id="headline" data-value="{h.value!r}">'
            f'<p><span class="value">{_esc(h.text)}</span> <span class="interval">({_esc(h.interval)})</span></p>'
            f'<p class="verdict-{h.verdict}">{_esc(h.verdict_text)}</p><p>{_esc(h.change_text)}</p></div>')


def _figures(k: KeyFigures) -> str:
    cards = "".join(f'<div class="figure-card"><div class="label">{_esc(lbl)}</div><div class="big">{_esc(v)}</div>'
                    f'<div class="detail">{_esc(d)}</div></div>' for lbl, v, d in k.items)
    return f'<div class="figures">{cards}</div>'


def _table(t: Table) -> str:
    head = "".join(f'<th class="{a}">{_esc(c)}</th>' for c, a in zip(t.columns, t.align))
    vcol = t.columns.index(VERDICT_COLUMN) if VERDICT_COLUMN in t.columns else -1
    body = []
    for i, row in enumerate(t.rows):
        cls = f' class="v-{t.verdicts[i]}"' if t.verdicts else ""
        cells = "".join(f'<td class="{a}{" verdict" if j == vcol else ""}">{_esc(v)}</td>'
                        for j, (v, a) in enumerate(zip(row, t.align)))
        body.append(f"<tr{cls}>{cells}</tr>")
    cap = f"<caption>{_esc(t.caption)}</caption>" if t.caption else ""
    cols = ""
    if t.widths and len(t.widths) == len(t.columns):
        total = sum(t.widths)
        cols = "<colgroup>" + "".join(f'<col style="width:{100 * w / total:.1f}%">' for w in t.widths) + "</colgroup>"
    return f"<table>{cap}{cols}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _chart(c: Chart) -> str:
    data = base64.b64encode(c.png()).decode()
    return (f'<figure data-chart="{_esc(c.key)}"><img alt="{_esc(c.alt or c.title)}" '
            f'src="data:image/png;base64,{data}"></figure>')


def _block(b: object) -> str:
    if isinstance(b, Heading):
        return f"<h{b.level}>{_esc(b.text)}</h{b.level}>"
    if isinstance(b, Para):
        return f'<p class="{b.kind}">{_esc(b.text)}</p>'
    if isinstance(b, Headline):
        return _headline(b)
    if isinstance(b, KeyFigures):
        return _figures(b)
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Chart):
        return _chart(b)
    raise TypeError(f"unknown report block {type(b).__name__}")


def _section(s: Section, first: bool) -> str:
    cls = "new-page" if s.new_page and not first else ""
    head = "" if first else f"<h2>{_esc(s.title)}</h2>"
    return f'<section id="{s.anchor}" class="{cls}">{head}{"".join(_block(b) for b in s.blocks)}</section>'


def render_html(r: Report) -> str:
    body = [f"<header><h1>{_esc(r.title)}</h1><p class='subtitle'>{_esc(r.subtitle)}</p></header>"]
    body += [_section(s, i == 0) for i, s in enumerate(r.sections)]
    body.append(f"<footer>{_esc(r.footer)}</footer>")
    return (f"<!DOCTYPE html><html lang='vi'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_esc(r.title)}</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>")


def build_html(a: Analysis) -> str:
    """The report as one HTML string."""
    return render_html(build_report(a))


def write_report(a: Analysis, out_dir: Path, fmt: str = "html") -> Path:
    """Write ``out_dir/index.html`` (``fmt="html"``) or ``out_dir/bao-cao-<round>.docx``
    (``fmt="docx"``); returns the path."""
    return write_reports(a, out_dir, (fmt,))[0]


def write_reports(a: Analysis, out_dir: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write the report in each of ``formats`` from one build (the charts are drawn once)."""
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unsupported report format {bad[0]!r}; use one of {FORMATS}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    r = build_report(a)
    paths = []
    for fmt in formats:
        if fmt == "docx":
            # lazy: python-docx adds ~0.2 s of import (python -X importtime), paid by Word only
            from analytics.report_docx import write_docx

            paths.append(write_docx(r, out_dir / f"bao-cao-{_safe(a.round_code)}.docx"))
        else:
            p = out_dir / "index.html"
            p.write_text(render_html(r), encoding="utf-8")
            paths.append(p)
    return paths


def _safe(code: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in code) or "dot"
