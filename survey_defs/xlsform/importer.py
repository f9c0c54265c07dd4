"""XLSForm workbook → hailong :class:`~survey_defs.schema.Survey`, every problem at its cell.

The mapping (docs/authoring.md, "Questionnaires in Excel (XLSForm)", is the author's version):

- a top-level ``begin_group`` is a section; a group inside it is a matrix (all its rows
  ``select_one`` from one list: one item per row); rows outside any group form sections of
  their own;
- ``select_one L`` is a *scale* question when ``L`` is a shared scale (used by a matrix or by
  two or more such questions, marked with ``hailong_satisfied`` on the choices sheet, or used
  by no question), otherwise a *single* question with ``L``'s options; ``hailong_type`` says
  ``single``, ``scale`` or ``yesno`` explicitly. ``select_multiple`` is multi, ``integer`` number,
  ``text`` text, ``note`` note. Metadata rows (start, end, today, deviceid…) are skipped with a
  warning; every other type is refused;
- ``required``: yes/no as XLSForm (empty = optional); ``relevant``/``constraint`` through
  :mod:`survey_defs.xlsform.expressions`; ``choice_filter`` of the form ``column = ${q}``
  becomes one question per answer of ``q``, asked only after that answer (this is how the
  2021 services questionnaire asks each agency's fields);
- hailong's own fields come from ``hailong_*`` columns and the ``hailong_texts`` and
  ``hailong_end_rules`` sheets (:mod:`survey_defs.xlsform.columns`).

The result goes through the same checks as a YAML file (:func:`survey_defs.loader.build_survey`);
their problems are placed on the cell they are about (a locator maps each document path to a
cell), and the workbook's own problems join them, so that an author fixes everything in one pass.

Why one module of ~750 lines: it is one pass over one workbook, and the methods of
:class:`_Importer` share its state (the languages found, the choice lists, which lists are scales,
the references between rows, the problems gathered so far); splitting them into mixins would
spread that state over files without making any part usable alone. The parts that do stand alone
already live apart: reading the workbook (:mod:`~survey_defs.xlsform.workbook`), cell values
(:mod:`~survey_defs.xlsform.cells`), ``hailong_*`` columns (:mod:`~survey_defs.xlsform.columns`),
expressions (:mod:`~survey_defs.xlsform.expressions`) and choice filters
(:mod:`~survey_defs.xlsform.choice_filter`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyxform import aliases as pyxform_aliases
from pyxform.question_type_dictionary import QUESTION_TYPE_DICT

from survey_defs.errors import DefinitionError, Problem
from survey_defs.loader import build_survey
from survey_defs.schema import YES_NO, AnswerValue, Condition, Survey
from survey_defs.xlsform import columns as C
from survey_defs.xlsform.cells import Loc, ordered, short, value_of
from survey_defs.xlsform.choice_filter import ChoiceFilter
from survey_defs.xlsform.expressions import ExpressionError, RefInfo, parse_condition
from survey_defs.xlsform.workbook import (
    CHOICES,
    END_RULES,
    MAX_BYTES,
    SETTINGS,
    SURVEY,
    TEXTS,
    Row,
    Workbook,
    read_workbook,
)

_NUMBER_TYPES = {"integer", "int", "add integer prompt", "q int"}
_TEXT_TYPES = {"text", "string", "add text prompt", "q string"}
_NOTE_TYPES = {"note", "add note prompt", "q note"}
_DECIMAL_TYPES = {"decimal", "add decimal prompt", "q decimal"}
_SELECT_ONE = {k for k, v in pyxform_aliases.select.items() if v == "select one" and "file" not in k}
_SELECT_MULTI = {k for k, v in pyxform_aliases.select.items() if v == "select all that apply" and "file" not in k}
_METADATA = {k for k, v in QUESTION_TYPE_DICT.items()
             if "control" not in v and ("jr:preload" in v.get("bind", {}) or k == "audit")}
_HAILONG_TYPES = ("single", "scale", "yesno")
_KINDS = ("satisfaction", "perception", "expectation")
_OUTCOMES = ("ineligible", "refused")


@dataclass(slots=True)
class ImportResult:
    """The questionnaire, and notes on what was skipped (metadata rows, ignored columns)."""

    survey: Survey
    warnings: list[Problem] = field(default_factory=list)


@dataclass(slots=True)
class _Node:
    row: Row
    kind: str                # group, select_one, select_multiple, number, text, note, decimal, …
    list_name: str | None = None
    children: list[_Node] = field(default_factory=list)
    depth: int = 0


class _Importer(ChoiceFilter):
    def __init__(self, wb: Workbook) -> None:
        super().__init__(wb)
        self.split: dict[str, str] = {}
        self.settings_row: Row | None = None
        self.failed: set[str] = set()     # names of rows refused above: the checks must not call them missing
        self.lists: dict[str, list[Row]] = {}
        self.refs: dict[str, RefInfo] = {}

    def condition(self, sheet: str, row: Row, base: str, self_id: str | None) -> Condition | None:
        text = self.cell(sheet, row, base)
        if text is None:
            return None
        try:
            return parse_condition(text, self.ref_info, self_id)
        except ExpressionError as exc:
            pos = f" (character {exc.pos + 1})" if exc.pos is not None else ""
            self.add(self.loc(sheet, row, base), f"cannot read the condition '{short(text)}': {exc.problem}{pos}",
                     exc.fix, self.cell(sheet, row, C.NAME))
            return None

    # ------------------------------------------------------------------ settings and languages

    def settings(self) -> dict[str, Any]:
        sh = self.sheet(SETTINGS)
        out: dict[str, Any] = {}
        row = next((r for r in sh.rows if r.cells), None) if sh is not None else None
        if row is not None:
            lang = self.cell(SETTINGS, row, C.DEFAULT_LANGUAGE)
            if lang is not None:
                code = C.language_code(lang)
                if code is None:
                    self.add(self.loc(SETTINGS, row, C.DEFAULT_LANGUAGE), f"cannot read a language code in '{lang}'",
                             "write it as Name (code), e.g. Vietnamese (vi)")
                else:
                    self.default_lang = code
        for key, base, fix in (("id", C.FORM_ID, "the questionnaire id, e.g. sipas-households"),
                               ("version", C.VERSION, "this edition's label, e.g. 2026.1")):
            v = self.cell(SETTINGS, row, base) if row is not None else None
            if v is None and sh is None:
                self.add(Loc(None), f"the workbook has no settings sheet (it gives the {base})",
                         f"add a sheet named settings with a {base} column: {fix}")
            elif v is None:
                self.add(self.loc(SETTINGS, row, base) if row is not None else Loc(SETTINGS, 2, base),
                         f"the settings sheet has no {base}", f"write the {base} under a {base} header: {fix}")
            else:
                out[key] = v
                self.at((key,), self.loc(SETTINGS, row, base))
        self.settings_row = row
        return out

    def find_languages(self) -> None:
        seen: list[str] = []
        for canonical in (SURVEY, CHOICES, TEXTS, END_RULES):
            for col in self.cols.get(canonical, {}).values():
                if col.lang is not None and col.base != C.H_ALIASES and col.lang not in seen:
                    seen.append(col.lang)
        self.languages = seen or [self.default_lang]
        self.at(("languages",), Loc(SURVEY, 1, self.header_for(SURVEY, C.LABEL, self.languages[0])))

    # ------------------------------------------------------------------ choices

    def choices(self) -> None:
        sh = self.sheet(CHOICES)
        if sh is None:
            return
        for row in sh.rows:
            if not row.cells:
                continue
            name = self.cell(CHOICES, row, C.LIST_NAME)
            value = self.cell(CHOICES, row, C.NAME)
            if name is None:
                self.add(self.loc(CHOICES, row, C.LIST_NAME), "the choice has no list_name",
                         "write the list name used in the survey sheet (select_one <list_name>)")
                continue
            if value is None:
                self.add(self.loc(CHOICES, row, C.NAME), f"a choice of list '{name}' has no name (its stored value)",
                         "write the value, e.g. 1")
                continue
            self.lists.setdefault(name, []).append(row)

    def option(self, row: Row, path: tuple[str | int, ...]) -> dict[str, Any]:
        opt: dict[str, Any] = {"value": value_of(self.cell(CHOICES, row, C.NAME) or ""),
                               "label": self.text(CHOICES, row, C.LABEL)}
        self.at(path, self.loc(CHOICES, row, C.NAME))
        self.mark_text(path + ("label",), CHOICES, row, C.LABEL)
        found: dict[str, list[str]] = {}
        for header, col in self.cols.get(CHOICES, {}).items():
            if col.base == C.H_ALIASES and row.cells.get(header):
                words = [w.strip() for w in row.cells[header].split(";") if w.strip()]
                if words:
                    found[col.lang or ""] = words
                    self.at(path + ("aliases",), Loc(CHOICES, row.number, header))
        if found:
            opt["aliases"] = found
        return opt

    # ------------------------------------------------------------------ survey rows → tree

    def tree(self) -> list[_Node]:
        top: list[_Node] = []
        stack: list[_Node] = []
        sh = self.sheet(SURVEY)
        for row in sh.rows if sh is not None else []:
            if not row.cells:
                continue
            raw = self.cell(SURVEY, row, C.TYPE)
            if raw is None:
                self.add(self.loc(SURVEY, row, C.TYPE), "the row has no type",
                         "write a type (text, integer, select_one <list>, note, begin_group …) or clear the row")
                continue
            kind, list_name = self.row_type(row, raw)
            if kind == "end_group":
                if not stack:
                    self.add(self.loc(SURVEY, row, C.TYPE), "end_group without a begin_group above it",
                             "delete it, or add the begin_group")
                else:
                    stack.pop()
                continue
            if kind is None:
                name = self.cell(SURVEY, row, C.NAME)
                if name is not None:
                    self.failed.add(name)
                continue
            node = _Node(row, kind, list_name, depth=len(stack))
            if kind != "refused_group":  # a refused repeat still opens a level, so that its end matches
                (stack[-1].children if stack else top).append(node)
            if kind in ("group", "refused_group"):
                stack.append(node)
        for open_group in stack:
            if open_group.kind == "refused_group":
                continue
            self.add(self.loc(SURVEY, open_group.row, C.TYPE),
                     f"begin_group '{self.cell(SURVEY, open_group.row, C.NAME) or ''}' has no end_group",
                     "add an end_group row where the group ends")
        return top

    def row_type(self, row: Row, raw: str) -> tuple[str | None, str | None]:
        t = " ".join(raw.split())
        low = t.lower()
        loc = self.loc(SURVEY, row, C.TYPE)
        if low in ("begin_group", "begin group"):
            return "group", None
        if low in ("end_group", "end group"):
            return "end_group", None
        if low in ("end_repeat", "end repeat", "end_loop", "end loop"):
            return "end_group", None
        if low in ("begin_repeat", "begin repeat", "begin_loop", "begin loop"):
            self.add(loc, "repeats do not map to hailong (a chat asks each question once)",
                     "ask a fixed number of questions, or one text question")
            return "refused_group", None
        for names, kind in ((_SELECT_ONE, "select_one"), (_SELECT_MULTI, "select_multiple")):
            for name in sorted(names, key=len, reverse=True):
                if low.startswith(name + " ") or low == name:
                    rest = t[len(name):].split()
                    if not rest:
                        self.add(loc, f"'{t}' names no choice list", f"write {kind} <list_name>")
                        return None, None
                    if len(rest) > 1:
                        if rest[1].lower() == "or_other":
                            self.add(loc, "or_other does not map to hailong",
                                     "add an 'other' choice and a text question with a relevant on it")
                        else:
                            self.add(loc, f"'{t}' has more than one list name", f"write {kind} <list_name>")
                        return None, None
                    return kind, rest[0]
        if low in _NUMBER_TYPES:
            return "number", None
        if low in _TEXT_TYPES:
            return "text", None
        if low in _NOTE_TYPES:
            return "note", None
        if low in _DECIMAL_TYPES:
            self.add(loc, "decimal answers do not map to hailong (it asks whole numbers)",
                     "use integer, with hailong_min / hailong_max for the range")
            return None, None
        if low in _METADATA:
            self.add(loc, f"'{t}' (form metadata) is skipped: hailong records every answer's time itself", "",
                     warning=True)
            return None, None
        known = ["text", "integer", "note", "select_one", "select_multiple", "begin_group", "end_group"]
        close = difflib.get_close_matches(low, known, n=1)
        if low in QUESTION_TYPE_DICT or low.split()[0] in ("select_one_from_file", "select_multiple_from_file",
                                                            "rank", "range"):
            self.add(loc, f"the type '{t}' does not map to hailong",
                     "use one of: " + ", ".join(known))
        else:
            self.add(loc, f"unknown type '{t}'", f"did you mean '{close[0]}'?" if close else
                     "use one of: " + ", ".join(known))
        return None, None

    # ------------------------------------------------------------------ answers for the expressions

    def ref_info(self, name: str) -> RefInfo | None:
        return self.refs.get(name)

    def collect_refs(self, top: list[_Node]) -> None:
        """What each name is, before any expression is read (literals take the question's value types)."""

        def visit(nodes: list[_Node]) -> None:
            for n in nodes:
                name = self.cell(SURVEY, n.row, C.NAME)
                if n.kind == "group":
                    visit(n.children)
                    continue
                if name is None:
                    continue
                if name in self.refs:
                    continue  # a duplicate name: the checks report it; the first one is the question
                if n.kind == "select_one":
                    htype = self.cell(SURVEY, n.row, C.H_TYPE)
                    vals = tuple(o.value for o in YES_NO) if htype == "yesno" else self.list_values(n.list_name)
                    self.refs[name] = RefInfo("choice", vals)
                elif n.kind == "select_multiple":
                    self.refs[name] = RefInfo("multi", self.list_values(n.list_name))
                elif n.kind == "number":
                    self.refs[name] = RefInfo("number")
                elif n.kind == "text":
                    self.refs[name] = RefInfo("text")
        visit(top)

    def list_values(self, name: str | None) -> tuple[AnswerValue, ...]:
        return tuple(value_of(self.cell(CHOICES, r, C.NAME) or "") for r in self.lists.get(name or "", []))

    # ------------------------------------------------------------------ scales

    def decide_scales(self, top: list[_Node]) -> list[str]:
        """Lists that become shared scales, in choices-sheet order (see the module docstring)."""
        uses: dict[str, int] = {}
        scale: set[str] = set()
        used: set[str] = set()

        def visit(nodes: list[_Node], in_matrix: bool) -> None:
            for n in nodes:
                if n.kind == "group":
                    visit(n.children, n.depth >= 1)
                    continue
                if n.list_name is None:
                    continue
                used.add(n.list_name)
                if n.kind != "select_one":
                    continue
                htype = self.cell(SURVEY, n.row, C.H_TYPE)
                if in_matrix or htype == "scale":
                    scale.add(n.list_name)
                elif htype is None:
                    uses[n.list_name] = uses.get(n.list_name, 0) + 1
        visit(top, False)
        for name, rows in self.lists.items():
            if uses.get(name, 0) >= 2 or name not in used:
                scale.add(name)
            if any(self.cell(CHOICES, r, C.H_SATISFIED) for r in rows):
                scale.add(name)
        return [name for name in self.lists if name in scale]

    def build_scales(self, names: list[str]) -> list[dict[str, Any]]:
        out = []
        for i, name in enumerate(names):
            rows = self.lists[name]
            path: tuple[str | int, ...] = ("scales", i)
            self.at(path, self.loc(CHOICES, rows[0], C.LIST_NAME))
            self.at(path + ("satisfied",), self.loc(CHOICES, rows[0], C.H_SATISFIED))
            sc: dict[str, Any] = {"id": name,
                                  "options": [self.option(r, path + ("options", k)) for k, r in enumerate(rows)]}
            sat = [o["value"] for o, r in zip(sc["options"], rows)
                   if self.flag(CHOICES, r, C.H_SATISFIED, False)]
            if sat:
                sc["satisfied"] = sat
            out.append(sc)
        return out

    # ------------------------------------------------------------------ questions

    def role(self, row: Row, path: tuple[str | int, ...]) -> dict[str, Any] | None:
        role: dict[str, Any] = {}
        kind = self.cell(SURVEY, row, C.H_INDEX)
        if kind is not None:
            if kind.lower() not in _KINDS:
                close = difflib.get_close_matches(kind.lower(), _KINDS, n=1)
                self.add(self.loc(SURVEY, row, C.H_INDEX), f"'{kind}' is not an index kind",
                         f"did you mean '{close[0]}'?" if close else "write satisfaction, perception or expectation")
            else:
                role["kind"] = kind.lower()
        for base, key in ((C.H_PILLAR, "pillar"), (C.H_COMPONENT, "component"), (C.H_CRITERION, "criterion")):
            v = self.cell(SURVEY, row, base)
            if v is not None:
                role[key] = v
                self.at(path + ("index", key), self.loc(SURVEY, row, base))
        sat = self.values(SURVEY, row, C.H_SATISFIED)
        if sat is not None:
            role["satisfied"] = sat
            self.at(path + ("index", "satisfied"), self.loc(SURVEY, row, C.H_SATISFIED))
        if not role and kind is None:
            return None
        first = next((b for b in (C.H_INDEX, C.H_PILLAR, C.H_COMPONENT, C.H_CRITERION, C.H_SATISFIED)
                      if self.cell(SURVEY, row, b) is not None), C.H_INDEX)
        self.at(path + ("index",), self.loc(SURVEY, row, first))
        return role

    def common(self, row: Row, path: tuple[str | int, ...], qid: str, self_id: str | None) -> dict[str, Any]:
        """Fields every question (and a matrix) reads the same way."""
        q: dict[str, Any] = {"id": qid, "text": self.text(SURVEY, row, C.LABEL)}
        self.at(path, self.loc(SURVEY, row, C.NAME))
        self.mark_text(path + ("text",), SURVEY, row, C.LABEL)
        help_ = self.text(SURVEY, row, C.HINT)
        if help_:
            q["help"] = help_
            self.mark_text(path + ("help",), SURVEY, row, C.HINT)
        rel = self.condition(SURVEY, row, C.RELEVANT, None)
        if rel is not None:
            q["relevant"] = rel
            self.at(path + ("relevant",), self.loc(SURVEY, row, C.RELEVANT))
        con = self.condition(SURVEY, row, C.CONSTRAINT, self_id)
        if con is not None:
            q["constraint"] = con
            self.at(path + ("constraint",), self.loc(SURVEY, row, C.CONSTRAINT))
        msg = self.text(SURVEY, row, C.CONSTRAINT_MESSAGE)
        if msg:
            q["constraint_message"] = msg
            self.mark_text(path + ("constraint_message",), SURVEY, row, C.CONSTRAINT_MESSAGE)
        return q

    def question(self, n: _Node, path: tuple[str | int, ...], scales: set[str]) -> list[dict[str, Any]]:
        row = n.row
        qid = self.cell(SURVEY, row, C.NAME)
        if qid is None:
            self.add(self.loc(SURVEY, row, C.NAME), "the question has no name",
                     "write its id (letters, digits and _), e.g. q_age: it is the answer's column")
            return []
        htype = self.cell(SURVEY, row, C.H_TYPE)
        if htype is not None and (n.kind != "select_one" or htype not in _HAILONG_TYPES):
            self.add(self.loc(SURVEY, row, C.H_TYPE), f"hailong_type '{htype}' does not apply here",
                     "use single, scale or yesno, on select_one rows only")
            htype = None
        q = self.common(row, path, qid, qid)
        q["required"] = self.flag(SURVEY, row, C.REQUIRED, n.kind == "note")
        for base, key in ((C.H_MIN, "min"), (C.H_MAX, "max"), (C.H_MAX_LENGTH, "max_length"),
                          (C.H_MIN_PICKS, "min_picks"), (C.H_MAX_PICKS, "max_picks")):
            v = self.integer(SURVEY, row, base)
            if v is not None:
                q[key] = v
                self.at(path + (key,), self.loc(SURVEY, row, base))
        excl = self.values(SURVEY, row, C.H_EXCLUSIVE)
        if excl is not None:
            q["exclusive"] = excl
            self.at(path + ("exclusive",), self.loc(SURVEY, row, C.H_EXCLUSIVE))
        role = self.role(row, path)
        if role is not None:
            q["index"] = role
        if n.kind in ("number", "text", "note"):
            q["type"] = n.kind
            return [q]
        assert n.list_name is not None
        self.at(path + ("scale",), self.loc(SURVEY, row, C.TYPE))
        if n.list_name not in self.lists:
            self.failed.add(qid)
            close = difflib.get_close_matches(n.list_name, list(self.lists), n=1)
            self.add(self.loc(SURVEY, row, C.TYPE), f"the choice list '{n.list_name}' is not in the choices sheet",
                     f"did you mean '{close[0]}'?" if close else f"add its choices with list_name {n.list_name}",
                     qid)
            return []
        rows = self.lists[n.list_name]
        if n.kind == "select_one" and htype == "yesno":
            values = sorted(str(value_of(self.cell(CHOICES, r, C.NAME) or "")) for r in rows)
            if values != ["0", "1"]:
                self.add(self.loc(SURVEY, row, C.H_TYPE),
                         f"a yesno question's list must have the values 1 and 0, and '{n.list_name}' has "
                         f"{', '.join(values)}", "use a list with 1 (Có / Yes) and 0 (Không / No), or hailong_type "
                         "single", qid)
            q["type"] = "yesno"
            return [q]
        if n.kind == "select_one" and (htype == "scale" or (htype is None and n.list_name in scales)):
            q["type"] = "scale"
            q["scale"] = n.list_name
            return [q]
        q["type"] = "single" if n.kind == "select_one" else "multi"
        q["options"] = [self.option(r, path + ("options", k)) for k, r in enumerate(rows)]
        flt = self.cell(SURVEY, row, C.CHOICE_FILTER)
        if flt is not None:
            return self.expand_filter(n.row, n.list_name, q, rows, flt, path)
        return [q]

    def matrix(self, g: _Node, path: tuple[str | int, ...]) -> dict[str, Any] | None:
        row = g.row
        qid = self.cell(SURVEY, row, C.NAME)
        if qid is None:
            self.add(self.loc(SURVEY, row, C.NAME), "the group has no name",
                     "write its id: a group inside a group is a matrix question")
            return None
        lists = set()
        ok = True
        for child in g.children:
            if child.kind != "select_one" or self.cell(SURVEY, child.row, C.H_TYPE) not in (None, "scale"):
                what = "a group" if child.kind == "group" else f"'{self.cell(SURVEY, child.row, C.TYPE)}'"
                self.add(self.loc(SURVEY, child.row, C.TYPE),
                         f"group '{qid}' is inside another group, so it is a matrix, and a matrix holds only "
                         f"select_one rows of one list; this row is {what}",
                         "move the row out of the inner group, or end the outer group before the inner one",
                         qid)
                ok = False
            else:
                lists.add(child.list_name)
        if not g.children:
            self.add(self.loc(SURVEY, row, C.NAME), f"matrix group '{qid}' has no rows",
                     "add its items as select_one rows, or delete the group")
            return None
        if len(lists) > 1:
            self.add(self.loc(SURVEY, g.children[0].row, C.TYPE),
                     f"the items of matrix '{qid}' use different lists ({', '.join(sorted(map(str, lists)))})",
                     "use one list for all items of a matrix", qid)
            ok = False
        if not ok:
            return None
        q = self.common(row, path, qid, None)
        q["type"] = "matrix"
        scale = lists.pop()
        q["scale"] = scale
        self.at(path + ("scale",), self.loc(SURVEY, g.children[0].row, C.TYPE))
        if scale not in self.lists:
            self.add(self.loc(SURVEY, g.children[0].row, C.TYPE),
                     f"the choice list '{scale}' is not in the choices sheet",
                     f"add its choices with list_name {scale}", qid)
        for base in (C.REQUIRED, C.H_INDEX, C.H_MIN, C.H_MAX, C.H_MAX_LENGTH, C.H_MIN_PICKS, C.H_MAX_PICKS,
                     C.H_EXCLUSIVE, C.H_PILLAR, C.H_COMPONENT, C.H_CRITERION, C.H_SATISFIED, C.CHOICE_FILTER):
            if self.cell(SURVEY, row, base) is not None:
                self.add(self.loc(SURVEY, row, base), f"'{base}' on a matrix group does not apply",
                         "write it on the item rows", qid)
        required = [self.flag(SURVEY, c.row, C.REQUIRED, False) for c in g.children]
        if len(set(required)) > 1:
            odd = g.children[required.index(not required[0])]
            self.add(self.loc(SURVEY, odd.row, C.REQUIRED),
                     f"the items of matrix '{qid}' differ in 'required' (a matrix is required as a whole)",
                     "write the same value on every item", qid)
        q["required"] = required[0]
        items = []
        for k, child in enumerate(g.children):
            ipath = path + ("items", k)
            iid = self.cell(SURVEY, child.row, C.NAME)
            if iid is None:
                self.add(self.loc(SURVEY, child.row, C.NAME), "the matrix item has no name",
                         "write its id: it is the answer's column", qid)
                continue
            for base in (C.HINT, C.CONSTRAINT, C.H_MIN, C.H_MAX, C.H_MAX_LENGTH, C.H_MIN_PICKS, C.H_MAX_PICKS,
                         C.H_EXCLUSIVE, C.CHOICE_FILTER):
                if self.cell(SURVEY, child.row, base) is not None or self.text(SURVEY, child.row, base):
                    self.add(self.loc(SURVEY, child.row, base), f"'{base}' does not apply to a matrix item",
                             "write hint and constraint on the group row", iid)
            if self.text(SURVEY, child.row, C.CONSTRAINT_MESSAGE):
                self.add(self.loc(SURVEY, child.row, C.CONSTRAINT_MESSAGE),
                         "'constraint_message' does not apply to a matrix item", "write it on the group row", iid)
            item: dict[str, Any] = {"id": iid, "text": self.text(SURVEY, child.row, C.LABEL)}
            self.at(ipath, self.loc(SURVEY, child.row, C.NAME))
            self.mark_text(ipath + ("text",), SURVEY, child.row, C.LABEL)
            role = self.role(child.row, ipath)
            if role is not None:
                item["index"] = role
            rel = self.condition(SURVEY, child.row, C.RELEVANT, None)
            if rel is not None:
                item["relevant"] = rel
                self.at(ipath + ("relevant",), self.loc(SURVEY, child.row, C.RELEVANT))
            items.append(item)
        q["items"] = items
        return q

    # ------------------------------------------------------------------ sections

    def sections(self, top: list[_Node], scales: set[str], title: dict[str, str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        loose: list[_Node] = []

        def flush() -> None:
            if not loose:
                return
            i = len(out)
            sid = f"part_{i + 1}"
            path: tuple[str | int, ...] = ("sections", i)
            self.at(path, self.loc(SURVEY, loose[0].row, C.TYPE))
            out.append({"id": sid, "title": dict(title), "questions": self.questions(loose, path, scales)})
            loose.clear()

        for n in top:
            if n.kind != "group":
                loose.append(n)
                continue
            flush()
            i = len(out)
            path = ("sections", i)
            sid = self.cell(SURVEY, n.row, C.NAME)
            if sid is None:
                self.add(self.loc(SURVEY, n.row, C.NAME), "the group has no name",
                         "write the section id, e.g. screening")
                continue
            sec: dict[str, Any] = {"id": sid, "title": self.text(SURVEY, n.row, C.LABEL)}
            self.at(path, self.loc(SURVEY, n.row, C.NAME))
            self.mark_text(path + ("title",), SURVEY, n.row, C.LABEL)
            rel = self.condition(SURVEY, n.row, C.RELEVANT, None)
            if rel is not None:
                sec["relevant"] = rel
                self.at(path + ("relevant",), self.loc(SURVEY, n.row, C.RELEVANT))
            for base in (C.REQUIRED, C.CONSTRAINT, C.HINT, C.H_INDEX, C.H_TYPE):
                if self.cell(SURVEY, n.row, base) is not None or self.text(SURVEY, n.row, base):
                    self.add(self.loc(SURVEY, n.row, base), f"'{base}' on a section group does not apply",
                             "write it on the question rows", sid)
            sec["questions"] = self.questions(n.children, path, scales)
            out.append(sec)
        flush()
        return out

    def questions(self, nodes: list[_Node], path: tuple[str | int, ...], scales: set[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for n in nodes:
            qpath = path + ("questions", len(out))
            if n.kind == "group":
                if n.depth >= 2:
                    self.add(self.loc(SURVEY, n.row, C.TYPE), "groups are nested three deep",
                             "hailong has sections (groups) holding matrices (groups): end a group first")
                    continue
                m = self.matrix(n, qpath)
                if m is not None:
                    out.append(m)
                continue
            for k, q in enumerate(self.question(n, qpath, scales)):
                if k:  # a choice_filter's extra questions sit on the same row
                    qp = path + ("questions", len(out))
                    self.at(qp, self.loc(SURVEY, n.row, C.NAME))
                    self.mark_text(qp + ("text",), SURVEY, n.row, C.LABEL)
                    self.at(qp + ("relevant",), self.loc(SURVEY, n.row, C.CHOICE_FILTER))
                out.append(q)
        return out

    # ------------------------------------------------------------------ hailong sheets

    def texts(self, data: dict[str, Any]) -> None:
        sh = self.sheet(TEXTS)
        rows = [r for r in sh.rows if r.cells] if sh is not None else []
        for row in rows:
            kind = (self.cell(TEXTS, row, C.KIND) or "").lower()
            name = self.cell(TEXTS, row, C.NAME)
            text = self.text(TEXTS, row, C.LABEL)
            if kind not in C.TEXT_KINDS:
                self.add(self.loc(TEXTS, row, C.KIND), f"'{kind}' is not a kind of text" if kind else "no kind",
                         "write one of: " + ", ".join(C.TEXT_KINDS))
                continue
            if kind in ("title", "description"):
                if kind in data:
                    self.add(self.loc(TEXTS, row, C.KIND), f"the {kind} is written twice", "keep one row")
                    continue
                data[kind] = text
                self.mark_text((kind,), TEXTS, row, C.LABEL)
                continue
            if name is None:
                self.add(self.loc(TEXTS, row, C.NAME), f"a {kind} row needs a name",
                         {"message": "write the message key, e.g. thanks", "pillar": "write the pillar key, "
                          "e.g. services", "component": "write the component key, e.g. II.A"}[kind])
                continue
            key = {"message": "messages", "pillar": "pillars", "component": "components"}[kind]
            group = data.setdefault(key, {})
            if name in group:
                self.add(self.loc(TEXTS, row, C.NAME), f"{kind} '{name}' is written twice", "keep one row")
                continue
            group[name] = text
            self.mark_text((key, name), TEXTS, row, C.LABEL)

    def end_rules(self) -> list[dict[str, Any]]:
        sh = self.sheet(END_RULES)
        out = []
        for row in (r for r in sh.rows if r.cells) if sh is not None else []:
            path: tuple[str | int, ...] = ("end_rules", len(out))
            rid = self.cell(END_RULES, row, C.NAME)
            when = self.condition(END_RULES, row, C.WHEN, None)
            if rid is None:
                self.add(self.loc(END_RULES, row, C.NAME), "the end rule has no name", "write its id, e.g. under_18")
                continue
            if when is None:
                if self.cell(END_RULES, row, C.WHEN) is None:
                    self.add(self.loc(END_RULES, row, C.WHEN), f"end rule '{rid}' has no condition",
                             "write when the interview ends, e.g. ${q_age} < 18", rid)
                continue
            rule: dict[str, Any] = {"id": rid, "when": when, "message": self.text(END_RULES, row, C.MESSAGE)}
            outcome = self.cell(END_RULES, row, C.OUTCOME)
            if outcome is not None:
                if outcome.lower() not in _OUTCOMES:
                    self.add(self.loc(END_RULES, row, C.OUTCOME), f"'{outcome}' is not an outcome",
                             "write ineligible or refused", rid)
                else:
                    rule["outcome"] = outcome.lower()
            self.at(path, self.loc(END_RULES, row, C.NAME))
            self.at(path + ("when",), self.loc(END_RULES, row, C.WHEN))
            self.mark_text(path + ("message",), END_RULES, row, C.MESSAGE)
            out.append(rule)
        return out

    # ------------------------------------------------------------------ the whole workbook

    def run(self) -> Survey:
        # settings first: its default_language says what a column without a language is in
        self.read_columns(SETTINGS, C.SETTINGS_COLUMNS, ())
        data: dict[str, Any] = self.settings()
        self.read_columns(SURVEY, C.SURVEY_COLUMNS + C.HAILONG_SURVEY_COLUMNS, C.TRANSLATED_SURVEY)
        self.filter_columns = self.choice_filter_columns()
        self.read_columns(CHOICES, C.CHOICES_COLUMNS, (C.LABEL,))
        self.read_columns(TEXTS, (C.KIND, C.NAME), (C.LABEL,))
        self.read_columns(END_RULES, (C.NAME, C.WHEN, C.OUTCOME), (C.MESSAGE,))
        self.find_languages()
        data["languages"] = list(self.languages)
        self.texts(data)
        if "title" not in data:
            row = self.settings_row
            form_title = self.cell(SETTINGS, row, C.FORM_TITLE) if row is not None else None
            data["title"] = {self.default_lang: form_title} if form_title else {}
            if row is not None:
                self.mark_text(("title",), SETTINGS, row, C.FORM_TITLE)
            else:
                self.at(("title",), Loc(SETTINGS))
        elif self.settings_row is not None:
            form_title = self.cell(SETTINGS, self.settings_row, C.FORM_TITLE)
            if form_title is not None and form_title != data["title"].get(self.default_lang):
                self.add(self.loc(SETTINGS, self.settings_row, C.FORM_TITLE),
                         "form_title differs from the title in the hailong_texts sheet",
                         "write the same title in both, or clear form_title")
        self.choices()
        top = self.tree()
        self.collect_refs(top)
        scale_names = self.decide_scales(top)
        data["scales"] = self.build_scales(scale_names)
        data["sections"] = self.sections(top, set(scale_names), data["title"])
        if not data["sections"]:
            self.add(Loc(SURVEY), "the survey sheet has no questions", "add question rows under the header row")
        data["end_rules"] = self.end_rules()
        self.split_refs(data)
        for key in ("id", "version"):  # reported above; a stand-in lets the checks look at everything else
            data.setdefault(key, "?")
        checked: list[Problem] = []
        survey: Survey | None = None
        try:
            survey = build_survey(data, self.file, self.locate)
        except DefinitionError as exc:
            checked = [self.placed(p) for p in exc.problems if not self.follows_refusal(p)]
        problems = self.problems + checked
        if problems:
            raise DefinitionError(ordered(problems))
        assert survey is not None
        return survey

    def follows_refusal(self, p: Problem) -> bool:
        """A check's problem that only repeats a refusal already reported (a refused row is 'missing')."""
        if any(f"'{name}', which does not exist" in p.problem for name in self.failed):
            return True
        return p.where == "survey" and p.problem in ("'id' is missing", "'version' is missing",
                                                     "the survey has no sections")

def import_workbook(data: bytes, file: str = "<workbook>") -> ImportResult:
    """Read an XLSForm given as bytes; raises :class:`DefinitionError` with every problem at its cell."""
    wb = read_workbook(data, file)
    imp = _Importer(wb)
    survey = imp.run()
    return ImportResult(survey, imp.warnings)


def import_xlsform(path: str | Path) -> ImportResult:
    """Read the XLSForm at ``path`` (see :func:`import_workbook`)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)  # one byte more than allowed: the size check sees it
    except FileNotFoundError:
        raise DefinitionError([Problem(p.name, "", f"file not found: {p}", "check the path")]) from None
    except OSError as exc:
        raise DefinitionError([Problem(p.name, "", f"cannot read the file: {exc.strerror}",
                                       "check the path and permissions")]) from None
    return import_workbook(data, p.name)

