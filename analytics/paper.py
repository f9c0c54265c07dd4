"""Paper questionnaires: an entry template, and an import that validates every cell first.

Template (XLSX or CSV): row 1 holds the column ids (``unit_code``, ``household_ref``, then one
column per answer key), row 2 the question text in Vietnamese (a guide for the person typing;
the import skips it), data from row 3. In XLSX, coded answers get a drop-down list of their codes
and numbers a range check, and a "Từ điển biến" sheet lists every code and its label. A
multiple-choice answer is typed as codes separated by ";" (e.g. ``1;3``).

Import: every row is checked against the definition — codes among the options, numbers in range,
required answers present, no answer for a step that does not apply (relevance, evaluated with the
engine's own condition semantics), multiple picks within min/max and exclusive options, screening
end rules, the unit code — and every problem is reported with its row and column. Only a file
without a single error is stored (one transaction, mode = paper); nothing is half-imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from analytics.exports import codebook
from analytics.text import label
from survey_defs.conditions import compile_condition
from sampling.import_limits import ImportLimits, check_before_reading, limits_for, too_many_rows
from survey_defs.spreadsheet_safety import XLSX_ENGINE_KWARGS, neutralised_frame, write_frame_sheet
from survey_defs.schema import QuestionType, Survey

META = ("unit_code", "household_ref")
META_TEXT = {"unit_code": "Mã đơn vị (thôn, bản / cơ quan) — bắt buộc",
             "household_ref": "Số thứ tự hộ / mã phiếu giấy (không ghi họ tên)"}


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    question: Any
    item: Any
    conds: tuple  # compiled relevance predicates (section, question, item)


@dataclass(frozen=True, slots=True)
class ImportError_:
    row: int          # row number as the user sees it in the file (1-based, header = 1)
    column: str
    message: str

    def __str__(self) -> str:
        return f"dòng {self.row}, cột {self.column}: {self.message}"


@dataclass
class ParsedRow:
    row: int
    unit_code: str
    household_ref: str | None
    answers: dict[str, Any]


def steps_of(survey: Survey) -> list[Step]:
    out = []
    for sec in survey.sections:
        for q in sec.questions:
            base = tuple(compile_condition(c) for c in (sec.relevant, q.relevant) if c is not None)
            if q.type is QuestionType.matrix:
                for it in q.items or []:
                    extra = (compile_condition(it.relevant),) if it.relevant is not None else ()
                    out.append(Step(it.id, q, it, base + extra))
            elif q.type is not QuestionType.note:
                out.append(Step(q.id, q, None, base))
    return out


def _text(s: Step) -> str:
    t = label(s.question.text)
    return f"{t} — {label(s.item.text)}" if s.item is not None else t


# ---------------------------------------------------------------- template

def write_template(survey: Survey, out: Path, rows: int = 1000) -> Path:
    """Write an entry template (XLSX with drop-downs and a codebook sheet, or CSV with BOM)."""
    out = Path(out)
    steps = steps_of(survey)
    cols = [*META, *(s.id for s in steps)]
    texts = [META_TEXT[m] for m in META] + [_text(s) for s in steps]
    if out.suffix.lower() == ".csv":
        neutralised_frame(pd.DataFrame([texts], columns=cols)).to_csv(out, index=False, encoding="utf-8-sig")
        return out
    if out.suffix.lower() != ".xlsx":
        raise ValueError("tệp mẫu phải là .xlsx hoặc .csv / the template must be .xlsx or .csv")
    with pd.ExcelWriter(out, engine="xlsxwriter", engine_kwargs=XLSX_ENGINE_KWARGS) as xw:
        ws = write_frame_sheet(xw, pd.DataFrame([texts], columns=cols), "Nhập phiếu")
        wrap = xw.book.add_format({"text_wrap": True, "valign": "top", "bg_color": "#eef4fb"})
        ws.set_row(1, 60, wrap)
        ws.freeze_panes(2, 1)
        for j, s in enumerate(steps, start=len(META)):
            q = s.question
            ws.set_column(j, j, 14)
            if q.type in (QuestionType.single, QuestionType.scale, QuestionType.yesno, QuestionType.matrix):
                codes = [str(o.value) for o in survey.options_of(q)]
                ws.data_validation(2, j, rows + 1, j, {
                    "validate": "list", "source": codes,
                    "error_title": "Mã không hợp lệ", "error_message": "Chọn một mã trong danh sách: " + ", ".join(codes)})
            elif q.type is QuestionType.number:
                ws.data_validation(2, j, rows + 1, j, {
                    "validate": "integer", "criteria": "between",
                    "minimum": q.min if q.min is not None else -10**9,
                    "maximum": q.max if q.max is not None else 10**9,
                    "error_message": f"Số nguyên từ {q.min} đến {q.max}"})
        write_frame_sheet(xw, codebook(survey), "Từ điển biến")
    return out


# ---------------------------------------------------------------- reading and validation

def read_entry_file(path: Path, limits: ImportLimits | None = None) -> pd.DataFrame:
    """The data rows of a filled template as text cells (no type guessing by pandas).

    A file over the paper limits (``sampling.import_limits``) raises ImportTooLarge (a
    ValueError) before it is parsed, or as soon as one row too many has been read.
    """
    path = Path(path)
    limits = limits or limits_for("paper")
    if not path.exists():
        raise FileNotFoundError(f"Không tìm thấy tệp {path} / file not found")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx", ".xlsm"):
        raise ValueError("chỉ nhận .xlsx hoặc .csv / only .xlsx or .csv files")
    check_before_reading(path, limits, header_rows=2)    # header and the template's question texts
    nrows = limits.max_rows + 2                            # one more than allowed, text row included
    if suffix == ".csv":
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", nrows=nrows)
    else:
        df = pd.read_excel(path, dtype=str, keep_default_na=False, sheet_name=0, nrows=nrows)
    df.columns = [str(c).strip() for c in df.columns]
    df.index = range(2, len(df) + 2)                       # file row numbers (header is row 1)
    if len(df) and str(df.iloc[0].get("unit_code", "")).startswith(META_TEXT["unit_code"][:10]):
        df = df.iloc[1:]                                   # the question-text row of the template
    if len(df) > limits.max_rows:
        raise too_many_rows(path, limits)
    df = df.map(lambda v: v.strip() if isinstance(v, str) else v)
    return df[(df != "").any(axis=1)]                      # fully empty rows are ignored


def _code(text: str, options: Sequence[Any]) -> tuple[Any, bool]:
    for v in options:
        if text == str(v):
            return v, True
    try:
        f = float(text.replace(",", "."))
        for v in options:
            if isinstance(v, int) and f == v:
                return v, True
    except ValueError:
        pass
    return None, False


def validate_rows(df: pd.DataFrame, survey: Survey, unit_codes: set[str] | None = None
                  ) -> tuple[list[ParsedRow], list[ImportError_]]:
    """Check every cell of every row; returns the parsed rows and every error found."""
    steps = steps_of(survey)
    by_id = {s.id: s for s in steps}
    errors: list[ImportError_] = []
    unknown = [c for c in df.columns if c not in by_id and c not in META]
    for c in unknown:
        errors.append(ImportError_(1, c, "cột không có trong bảng hỏi / column not in the questionnaire"))
    if "unit_code" not in df.columns:
        errors.append(ImportError_(1, "unit_code", "thiếu cột mã đơn vị / missing column"))
    for s in steps:
        if s.id not in df.columns and s.question.required and not s.conds:
            errors.append(ImportError_(1, s.id, "thiếu cột của câu hỏi bắt buộc / missing column of a required question"))
    end_rules = [(r, compile_condition(r.when)) for r in survey.end_rules]
    parsed: list[ParsedRow] = []
    for rowno, row in df.iterrows():
        answers: dict[str, Any] = {}
        raw = {s.id: str(row.get(s.id, "") or "") for s in steps}
        for s in steps:
            text = raw[s.id]
            if text == "":
                continue
            q = s.question
            opts = [o.value for o in survey.options_of(q)]
            if q.type is QuestionType.multi:
                parts = [p.strip() for p in text.replace(",", ";").split(";") if p.strip()]
                vals, bad = [], []
                for p in parts:
                    v, ok = _code(p, opts)
                    (vals if ok else bad).append(v if ok else p)
                if bad:
                    errors.append(ImportError_(rowno, s.id, f"mã không có trong phương án: {', '.join(bad)} "
                                                            f"(hợp lệ / valid: {', '.join(map(str, opts))})"))
                    continue
                vals = list(dict.fromkeys(vals))
                if q.min_picks is not None and len(vals) < q.min_picks or q.max_picks is not None and len(vals) > q.max_picks:
                    errors.append(ImportError_(rowno, s.id, f"số lựa chọn {len(vals)} ngoài giới hạn "
                                                            f"{q.min_picks or 0}–{q.max_picks or len(opts)} / picks out of range"))
                    continue
                if len(vals) > 1 and any(v in q.exclusive for v in vals):
                    errors.append(ImportError_(rowno, s.id, "phương án loại trừ đi kèm phương án khác / exclusive option combined"))
                    continue
                answers[s.id] = vals
            elif q.type is QuestionType.number:
                try:
                    f = float(text.replace(",", "."))
                    if f != int(f):
                        raise ValueError
                    v = int(f)
                except ValueError:
                    errors.append(ImportError_(rowno, s.id, f"không phải số nguyên: {text!r} / not an integer"))
                    continue
                if (q.min is not None and v < q.min) or (q.max is not None and v > q.max):
                    errors.append(ImportError_(rowno, s.id, f"số {v} ngoài khoảng {q.min}–{q.max} / out of range"))
                    continue
                answers[s.id] = v
            elif q.type is QuestionType.text:
                if q.max_length is not None and len(text) > q.max_length:
                    errors.append(ImportError_(rowno, s.id, f"dài quá {q.max_length} ký tự / too long"))
                    continue
                answers[s.id] = text
            else:
                v, ok = _code(text, opts)
                if not ok:
                    errors.append(ImportError_(rowno, s.id, f"mã {text!r} không có trong phương án "
                                                            f"(hợp lệ / valid: {', '.join(map(str, opts))})"))
                    continue
                answers[s.id] = v
        # relevance, required, constraints, in questionnaire order, on the parsed answers
        for s in steps:
            applies = all(p(answers) for p in s.conds)
            has = s.id in answers
            if has and not applies:
                errors.append(ImportError_(rowno, s.id, "câu hỏi không áp dụng cho phiếu này nhưng có trả lời "
                                                        "/ answered a question that does not apply"))
            elif applies and not has and s.question.required and raw[s.id] == "":
                errors.append(ImportError_(rowno, s.id, "thiếu câu trả lời bắt buộc / required answer missing"))
            elif has and s.question.constraint is not None and s.item is None:
                if not compile_condition(s.question.constraint)(answers):
                    msg = label(s.question.constraint_message) or "không thỏa điều kiện / fails the constraint"
                    errors.append(ImportError_(rowno, s.id, msg))
        for r, pred in end_rules:
            if pred(answers):
                errors.append(ImportError_(rowno, "—", f"phiếu thuộc diện dừng khảo sát ({r.id}: "
                                                      f"{label(r.message)[:80]}) / screened out"))
        unit = str(row.get("unit_code", "") or "")
        if not unit:
            errors.append(ImportError_(rowno, "unit_code", "thiếu mã đơn vị / unit code missing"))
        elif unit_codes is not None and unit not in unit_codes:
            errors.append(ImportError_(rowno, "unit_code", f"mã đơn vị {unit!r} không có trong khung mẫu "
                                                           "/ unknown unit code"))
        hh = str(row.get("household_ref", "") or "") or None
        parsed.append(ParsedRow(int(rowno), unit, hh, answers))
    return parsed, errors


async def store_rows(db_path: str, round_code: str, rows: Sequence[ParsedRow], actor: str = "paper-import") -> list[int]:
    """Store validated rows through storage (one transaction, mode = paper)."""
    from storage.db import Database
    from storage.responses import PaperResponseIn, store_paper_responses
    from storage.rounds import get_round_by_code

    db = await Database.open(db_path)
    try:
        rnd = await get_round_by_code(db, round_code)
        if rnd is None:
            raise LookupError(f"Không có đợt khảo sát {round_code!r} / no round {round_code!r}")
        codes = {r["code"]: r["id"] for r in await db.fetchall(
            "SELECT id, code FROM units WHERE frame = COALESCE(?, frame)", (rnd.frame,))}
        items = [PaperResponseIn(unit_id=codes[r.unit_code], answers=r.answers, household_ref=r.household_ref,
                                 attrs={"paper_row": r.row}) for r in rows]
        return await store_paper_responses(db, rnd.id, rnd.survey_id, rnd.survey_hash, items, actor)
    finally:
        await db.close()


async def round_context(db_path: str, round_code: str) -> tuple[Survey, set[str]]:
    """The round's pinned questionnaire and the unit codes of its frame."""
    from storage.db import Database
    from storage.rounds import get_round_by_code, load_survey

    db = await Database.open(db_path)
    try:
        rnd = await get_round_by_code(db, round_code)
        if rnd is None:
            raise LookupError(f"Không có đợt khảo sát {round_code!r} / no round {round_code!r}")
        survey = await load_survey(db, rnd.survey_hash)
        codes = {r[0] for r in await db.fetchall("SELECT code FROM units WHERE frame = COALESCE(?, frame)",
                                                 (rnd.frame,))}
        return survey, codes
    finally:
        await db.close()
