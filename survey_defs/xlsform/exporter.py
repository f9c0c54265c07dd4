"""hailong :class:`~survey_defs.schema.Survey` → XLSForm workbook (.xlsx bytes).

The workbook is what :mod:`survey_defs.xlsform.importer` reads back to the same definition
(tests check the content hash of both shipped questionnaires), and a valid XLSForm that
pyxform converts to an XForm (so KoboToolbox or ODK can open it):

- a section is a ``begin_group``/``end_group``; a matrix is a group inside it with the
  ``table-list`` appearance (ODK's grid), one ``select_one <scale>`` row per item;
- a single or several-choice question gets its own choice list named after it; a scale
  question uses the scale's list; yes/no questions share one ``yesno`` list (1 Có, 0 Không);
- ``hailong_type`` is written only where the importer's default guess would differ;
- hailong's own fields go to ``hailong_*`` columns (only those the survey uses) and to the
  ``hailong_texts`` / ``hailong_end_rules`` sheets.

Cells are written with XlsxWriter with formula, number and URL guessing off, so that a text
starting with ``=`` (or ``+``, ``-``, ``@``) is stored as text and never runs as a formula in Excel.
"""

from __future__ import annotations

import datetime
import io
from typing import Any

from survey_defs.errors import DefinitionError, Problem
from survey_defs.spreadsheet_safety import SafeWorkbook
from survey_defs.schema import YES_NO, AnswerValue, Condition, Question, QuestionType, Survey, Text
from survey_defs.xlsform import columns as C
from survey_defs.xlsform.expressions import ExpressionError, RefKind, condition_to_expression
from survey_defs.xlsform.workbook import CHOICES, END_RULES, SETTINGS, SURVEY, TEXTS

Cell = str | int | None
# A fixed creation date: the same survey exports to the same bytes (diffable, cacheable).
_CREATED = datetime.datetime(2020, 1, 1)


class _Sheet:
    """Rows keyed by column name; the column order is fixed when the sheet is written."""

    def __init__(self, name: str, columns: list[str]) -> None:
        self.name = name
        self.columns = list(columns)
        self.rows: list[dict[str, Cell]] = []

    def add(self, **cells: Cell) -> dict[str, Cell]:
        row = {k: v for k, v in cells.items() if v is not None and v != ""}
        self.rows.append(row)
        return row

    def used(self) -> list[str]:
        """Required columns, then optional columns some row fills."""
        return [c for c in self.columns if not c.startswith(C.PREFIX) or any(c in r for r in self.rows)]


class _Exporter:
    def __init__(self, survey: Survey) -> None:
        self.s = survey
        self.langs = list(survey.languages)
        self.problems: list[Problem] = []
        self.kinds: dict[str, RefKind] = {}
        for q in survey.questions:
            if q.type is QuestionType.matrix:
                for it in q.items or []:
                    self.kinds[it.id] = "choice"
            elif q.type is QuestionType.multi:
                self.kinds[q.id] = "multi"
            elif q.type is QuestionType.number:
                self.kinds[q.id] = "number"
            elif q.type is QuestionType.text:
                self.kinds[q.id] = "text"
            elif q.type is not QuestionType.note:
                self.kinds[q.id] = "choice"
        taken = {sc.id for sc in survey.scales}
        self.list_of: dict[str, str] = {}
        for q in survey.questions:
            if q.type in (QuestionType.single, QuestionType.multi):
                self.list_of[q.id] = _free(q.id, taken)
        self.yesno = _free("yesno", taken) if any(q.type is QuestionType.yesno for q in survey.questions) else None

    # ------------------------------------------------------------------ helpers

    def fail(self, where: str, item_id: str | None, problem: str, fix: str) -> None:
        self.problems.append(Problem(f"{self.s.id}", where, problem, fix, item_id))

    def tr(self, column: str, text: Text | None) -> dict[str, Cell]:
        if not text:
            return {}
        return {C.language_header(column, lang): text.get(lang) for lang in self.langs if text.get(lang)}

    def tr_columns(self, column: str) -> list[str]:
        return [C.language_header(column, lang) for lang in self.langs]

    def expr(self, cond: Condition | None, where: str, item_id: str, self_id: str | None = None) -> str | None:
        if cond is None:
            return None
        try:
            return condition_to_expression(cond, self.kinds.get, self_id)
        except ExpressionError as exc:
            self.fail(where, item_id, f"the condition cannot be written in XLSForm: {exc.problem}", exc.fix)
            return None

    def values_text(self, values: list[AnswerValue] | None, where: str, item_id: str, what: str) -> str | None:
        if values is None:
            return None
        if not values:
            self.fail(where, item_id, f"an empty {what} list has no XLSForm form", f"remove {what}, or list values")
            return None
        bad = [v for v in values if isinstance(v, str) and (not v or any(ch.isspace() for ch in v) or "," in v
                                                            or ";" in v)]
        if bad:
            self.fail(where, item_id, f"{what} value {bad[0]!r} contains a space or a separator",
                      "use values without spaces, commas or semicolons")
            return None
        return " ".join(str(v) for v in values)

    def role(self, role: Any, where: str, item_id: str) -> dict[str, Cell]:
        if role is None:
            return {}
        return {C.H_INDEX: role.kind, C.H_PILLAR: role.pillar, C.H_COMPONENT: role.component,
                C.H_CRITERION: role.criterion,
                C.H_SATISFIED: self.values_text(role.satisfied, where, item_id, "satisfied")}

    # ------------------------------------------------------------------ sheets

    def survey_sheet(self) -> _Sheet:
        sh = _Sheet(SURVEY, [C.TYPE, C.NAME, *self.tr_columns(C.LABEL), *self.tr_columns(C.HINT), C.REQUIRED,
                             C.RELEVANT, C.CONSTRAINT, *self.tr_columns(C.CONSTRAINT_MESSAGE), C.APPEARANCE,
                             *C.HAILONG_SURVEY_COLUMNS])
        explicit_scale = self.scales_needing_type()
        for sec in self.s.sections:
            where = f"section '{sec.id}'"
            sh.add(type="begin_group", name=sec.id, **self.tr(C.LABEL, sec.title),
                   relevant=self.expr(sec.relevant, where, sec.id))
            for q in sec.questions:
                self.question(sh, q, explicit_scale)
            sh.add(type="end_group", name=sec.id)
        return sh

    def scales_needing_type(self) -> set[str]:
        """Scale questions the importer would read as single: their scale is used once, unmarked."""
        uses: dict[str, list[str]] = {}
        in_matrix: set[str] = set()
        for q in self.s.questions:
            if q.type is QuestionType.scale and q.scale is not None:
                uses.setdefault(q.scale, []).append(q.id)
            if q.type is QuestionType.matrix and q.scale is not None:
                in_matrix.add(q.scale)
        need: set[str] = set()
        for scale_id, qids in uses.items():
            sc = self.s.scale_by_id.get(scale_id)
            if len(qids) == 1 and scale_id not in in_matrix and not (sc is not None and sc.satisfied):
                need.add(qids[0])
        return need

    def question(self, sh: _Sheet, q: Question, explicit_scale: set[str]) -> None:
        where = f"question '{q.id}'"
        common: dict[str, Cell] = {
            C.NAME: q.id, **self.tr(C.LABEL, q.text), **self.tr(C.HINT, q.help),
            C.RELEVANT: self.expr(q.relevant, where, q.id),
        }
        if q.type is QuestionType.matrix:
            sh.add(type="begin_group", **common, appearance="table-list",
                   constraint=self.expr(q.constraint, where, q.id), **self.tr(C.CONSTRAINT_MESSAGE,
                                                                               q.constraint_message))
            for it in q.items or []:
                iwhere = f"matrix item '{it.id}'"
                sh.add(type=f"select_one {q.scale}", name=it.id, **self.tr(C.LABEL, it.text),
                       required="yes" if q.required else None, relevant=self.expr(it.relevant, iwhere, it.id),
                       **self.role(it.index, iwhere, it.id))
            sh.add(type="end_group", name=q.id)
            return
        common[C.CONSTRAINT] = self.expr(q.constraint, where, q.id, self_id=q.id)
        common.update(self.tr(C.CONSTRAINT_MESSAGE, q.constraint_message))
        if q.type is QuestionType.note:
            common[C.REQUIRED] = None if q.required else "no"
        else:
            common[C.REQUIRED] = "yes" if q.required else None
        extra: dict[str, Cell] = {C.H_MIN: q.min, C.H_MAX: q.max, C.H_MAX_LENGTH: q.max_length,
                                  C.H_MIN_PICKS: q.min_picks, C.H_MAX_PICKS: q.max_picks,
                                  C.H_EXCLUSIVE: self.values_text(q.exclusive or None, where, q.id, "exclusive"),
                                  **self.role(q.index, where, q.id)}
        kind = {QuestionType.number: "integer", QuestionType.text: "text", QuestionType.note: "note"}.get(q.type)
        if kind is not None:
            sh.add(type=kind, **common, **extra)
        elif q.type is QuestionType.single:
            sh.add(type=f"select_one {self.list_of[q.id]}", **common, **extra)
        elif q.type is QuestionType.multi:
            sh.add(type=f"select_multiple {self.list_of[q.id]}", **common, **extra)
        elif q.type is QuestionType.scale:
            sh.add(type=f"select_one {q.scale}", **common, **extra,
                   hailong_type="scale" if q.id in explicit_scale else None)
        elif q.type is QuestionType.yesno:
            sh.add(type=f"select_one {self.yesno}", **common, **extra, hailong_type="yesno")

    def choices_sheet(self) -> _Sheet:
        alias_langs = list(dict.fromkeys(
            [lang for lang in self.langs] + sorted({lang for o in self.all_options() for lang in o.aliases})))
        used_alias = [lang for lang in alias_langs if any(o.aliases.get(lang) for o in self.all_options())]
        sh = _Sheet(CHOICES, [C.LIST_NAME, C.NAME, *self.tr_columns(C.LABEL), C.H_SATISFIED,
                              *(C.aliases_header(lang) for lang in used_alias)])
        for sc in self.s.scales:
            for o in sc.options:
                self.option(sh, sc.id, o, o.value in sc.satisfied, f"scale '{sc.id}'", sc.id)
        for q in self.s.questions:
            if q.id in self.list_of:
                for o in q.options or []:
                    self.option(sh, self.list_of[q.id], o, False, f"question '{q.id}'", q.id)
        if self.yesno is not None:
            for o in YES_NO:
                sh.add(list_name=self.yesno, name=o.value, **self.tr(C.LABEL, o.label))
        return sh

    def all_options(self) -> list[Any]:
        return [o for sc in self.s.scales for o in sc.options] + \
            [o for q in self.s.questions if q.id in self.list_of for o in q.options or []]

    def option(self, sh: _Sheet, list_name: str, o: Any, satisfied: bool, where: str, item_id: str) -> None:
        aliases: dict[str, Cell] = {}
        for lang, words in o.aliases.items():
            bad = [w for w in words if ";" in w]
            if bad:
                self.fail(where, item_id, f"option {o.value} alias {bad[0]!r} contains ';', the alias separator",
                          "remove the ';' from the alias")
            if words:
                aliases[C.aliases_header(lang)] = "; ".join(words)
        sh.add(list_name=list_name, name=o.value, **self.tr(C.LABEL, o.label),
               hailong_satisfied="yes" if satisfied else None, **aliases)

    def settings_sheet(self) -> _Sheet:
        sh = _Sheet(SETTINGS, [C.FORM_TITLE, C.FORM_ID, C.VERSION, C.DEFAULT_LANGUAGE])
        first = self.langs[0]
        sh.add(form_title=self.s.title.get(first), form_id=self.s.id, version=self.s.version,
               default_language=C.language_header("x", first).split("::", 1)[1])
        return sh

    def texts_sheet(self) -> _Sheet:
        sh = _Sheet(TEXTS, [C.KIND, C.NAME, *self.tr_columns(C.LABEL)])
        sh.add(kind="title", **self.tr(C.LABEL, self.s.title))
        if self.s.description is not None:
            sh.add(kind="description", **self.tr(C.LABEL, self.s.description))
        for kind, group in (("message", self.s.messages), ("pillar", self.s.pillars),
                            ("component", self.s.components)):
            for key, text in group.items():
                sh.add(kind=kind, name=key, **self.tr(C.LABEL, text))
        return sh

    def end_rules_sheet(self) -> _Sheet:
        sh = _Sheet(END_RULES, [C.NAME, C.WHEN, C.OUTCOME, *self.tr_columns(C.MESSAGE)])
        for rule in self.s.end_rules:
            sh.add(name=rule.id, when=self.expr(rule.when, f"end rule '{rule.id}'", rule.id),
                   outcome=rule.outcome, **self.tr(C.MESSAGE, rule.message))
        return sh

    def run(self) -> bytes:
        sheets = [self.survey_sheet(), self.choices_sheet(), self.settings_sheet(), self.texts_sheet()]
        if self.s.end_rules:
            sheets.append(self.end_rules_sheet())
        if self.problems:
            raise DefinitionError(self.problems)
        return _write(sheets)


def _free(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``… when a list of that name exists already (the result is reserved)."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


def _write(sheets: list[_Sheet]) -> bytes:
    buf = io.BytesIO()
    # No guessing: every string is a string (never a formula, a number or a link).
    wb = SafeWorkbook(buf, {"in_memory": True, "strings_to_numbers": False, "strings_to_urls": False})
    wb.set_properties({"title": "XLSForm (hailong)", "created": _CREATED})
    bold = wb.add_format({"bold": True, "bg_color": "#EEEEEE"})
    wrap = wb.add_format({"text_wrap": False})
    for sh in sheets:
        ws = wb.add_worksheet(sh.name)
        cols = sh.used()
        for j, col in enumerate(cols):
            ws.write_string(0, j, col, bold)
            width = max([len(col)] + [len(str(r.get(col, ""))) for r in sh.rows])
            ws.set_column(j, j, min(max(width, 6) + 2, 60), wrap)
        for i, row in enumerate(sh.rows, start=1):
            for j, col in enumerate(cols):
                v = row.get(col)
                if v is None:
                    continue
                if isinstance(v, bool):
                    ws.write_string(i, j, "yes" if v else "no")
                elif isinstance(v, int):
                    ws.write_number(i, j, v)
                else:
                    wb.write_row(ws, i, j, [str(v)])  # formula-like text stays quote-prefixed text
        ws.freeze_panes(1, 0)
    wb.close()
    return buf.getvalue()


def export_xlsform(survey: Survey) -> bytes:
    """The XLSForm workbook of ``survey``; raises :class:`DefinitionError` for what cannot be written."""
    return _Exporter(survey).run()
