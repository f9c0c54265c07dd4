"""The report as a Word document (python-docx): provincial reports are edited and signed in Word.

Same content as the HTML report (``report_content``): real headings (Heading 1–3, so Word's
navigation pane and table of contents work), the charts as pictures sized to the A4 text width,
and tables with a header row that repeats on every page. A4 portrait, 2 cm margins.
"""

from __future__ import annotations

import io
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from analytics.report_model import Chart, Headline, Heading, KeyFigures, Para, Report, Table

TEXT_WIDTH_CM = 17.0
VERDICT_RGB = {"met": RGBColor(0x1B, 0x78, 0x37), "not_met": RGBColor(0xB2, 0x18, 0x2B),
               "unclear": RGBColor(0xB3, 0x58, 0x06), "no_data": RGBColor(0x77, 0x77, 0x77)}
VERDICT_COLUMN = "So với chỉ tiêu"


def _shade(cell, hex_fill: str) -> None:
    tc_pr = cell._tc.get_or_add_tcPr()
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), hex_fill)
    tc_pr.append(shd)


def _repeat_header(row) -> None:
    tr_pr = row._tr.get_or_add_trPr()
    el = OxmlElement("w:tblHeader")
    el.set(qn("w:val"), "true")
    tr_pr.append(el)


def _table(doc: Document, t: Table) -> None:
    tab = doc.add_table(rows=1, cols=len(t.columns))
    tab.style = "Table Grid"
    tab.alignment = WD_TABLE_ALIGNMENT.CENTER
    widths = t.widths if t.widths and len(t.widths) == len(t.columns) else [1.0] * len(t.columns)
    total = sum(widths)
    cms = [Cm(TEXT_WIDTH_CM * w / total) for w in widths]
    vcol = t.columns.index(VERDICT_COLUMN) if VERDICT_COLUMN in t.columns else -1
    hdr = tab.rows[0]
    _repeat_header(hdr)
    for j, c in enumerate(t.columns):
        cell = hdr.cells[j]
        cell.width = cms[j]
        cell.text = ""
        run = cell.paragraphs[0].add_run(c)
        run.bold = True
        run.font.size = Pt(8.5)
        _shade(cell, "E9EEF5")
    for i, row in enumerate(t.rows):
        cells = tab.add_row().cells
        for j, v in enumerate(row):
            cells[j].width = cms[j]
            p = cells[j].paragraphs[0]
            if t.align[j] == "r":
                p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            run = p.add_run(str(v))
            run.font.size = Pt(8.5)
            if j == vcol and t.verdicts:
                run.bold = True
                run.font.color.rgb = VERDICT_RGB.get(t.verdicts[i], VERDICT_RGB["no_data"])
    doc.add_paragraph()


def _headline(doc: Document, h: Headline) -> None:
    p = doc.add_paragraph()
    r = p.add_run(h.text)
    r.bold = True
    r.font.size = Pt(16)
    p.add_run(f" ({h.interval})").font.size = Pt(11)
    v = doc.add_paragraph()
    vr = v.add_run(h.verdict_text)
    vr.bold = True
    vr.font.color.rgb = VERDICT_RGB.get(h.verdict, VERDICT_RGB["no_data"])
    doc.add_paragraph(h.change_text)


def _figures(doc: Document, k: KeyFigures) -> None:
    tab = doc.add_table(rows=1, cols=3)
    tab.style = "Table Grid"
    cells = [c for _ in range((len(k.items) + 2) // 3) for c in (tab.rows[0].cells if _ == 0 else tab.add_row().cells)]
    for cell, (lbl, val, detail) in zip(cells, k.items):
        cell.width = Cm(TEXT_WIDTH_CM / 3)
        p = cell.paragraphs[0]
        p.add_run(lbl).font.size = Pt(8)
        big = cell.add_paragraph().add_run(val)
        big.bold = True
        big.font.size = Pt(13)
        if detail:
            cell.add_paragraph().add_run(detail).font.size = Pt(7.5)
    doc.add_paragraph()


def build_docx(r: Report) -> Document:
    """The report as a python-docx ``Document``."""
    doc = Document()
    sec = doc.sections[0]
    sec.orientation = WD_ORIENT.PORTRAIT
    sec.page_width, sec.page_height = Cm(21.0), Cm(29.7)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(sec, side, Cm(2.0))
    normal = doc.styles["Normal"]
    normal.font.name = "Times New Roman"        # the administrative documents' font (Decree 30/2020)
    normal.font.size = Pt(11)
    doc.core_properties.title = r.title
    doc.core_properties.language = "vi-VN"
    doc.add_heading(r.title, level=0)
    doc.add_paragraph(r.subtitle)
    for i, s in enumerate(r.sections):
        if i > 0:
            if s.new_page:
                doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
            doc.add_heading(s.title, level=1)
        else:
            doc.add_heading(s.title, level=1)
        for b in s.blocks:
            if isinstance(b, Heading):
                doc.add_heading(b.text, level=min(3, b.level))
            elif isinstance(b, Para):
                p = doc.add_paragraph()
                run = p.add_run(b.text)
                if b.kind == "note":
                    run.font.size = Pt(9)
                    run.italic = True
            elif isinstance(b, Headline):
                _headline(doc, b)
            elif isinstance(b, KeyFigures):
                _figures(doc, b)
            elif isinstance(b, Table):
                _table(doc, b)
            elif isinstance(b, Chart):
                doc.add_picture(io.BytesIO(b.png()), width=Cm(TEXT_WIDTH_CM))
                cap = doc.add_paragraph(f"Biểu đồ: {b.title}")
                cap.style = doc.styles["Caption"]
    doc.add_paragraph(r.footer).runs[0].font.size = Pt(8)
    return doc


def write_docx(r: Report, path: Path) -> Path:
    """Write the Word report to ``path``; returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    build_docx(r).save(str(path))
    return path
