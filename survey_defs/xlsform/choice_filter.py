"""``choice_filter`` → one question per answer: the one cascading-select form that maps to hailong.

XLSForm filters a question's choices by an earlier answer (``agency = ${q_agency}``: only the
choices whose ``agency`` column holds that answer). hailong has no filtered lists; it asks one
question per answer instead, each relevant only after that answer (the 2021 services
questionnaire asks each agency's fields this way). So ``q_field`` filtered by ``q_agency``
becomes ``q_field_1``, ``q_field_2`` …, and a condition that reads ``q_field`` itself is refused
with the ids to read instead. Any other filter is refused.
"""

from __future__ import annotations

import re
from typing import Any

from survey_defs import schema
from survey_defs.schema import Condition
from survey_defs.xlsform import columns as C
from survey_defs.xlsform.cells import CellReader, Loc, Path_, short
from survey_defs.xlsform.workbook import CHOICES, SURVEY, Row


class ChoiceFilter(CellReader):
    """The choice_filter part of the importer (a mixin: it uses the importer's lists and references)."""

    split: dict[str, str]          # question split by its choice_filter -> the question it follows
    lists: dict[str, list[Row]]    # choice lists by name
    refs: dict[str, Any]           # name -> RefInfo of every question

    def option(self, row: Row, path: Path_) -> dict[str, Any]:  # pragma: no cover - the importer's
        raise NotImplementedError

    def expand_filter(self, row: Row, list_name: str, q: dict[str, Any], rows: list[Row], flt: str,
                      path: Path_) -> list[dict[str, Any]]:
        """``column = ${q}``: one question per answer of q, each with that answer's choices."""
        loc = self.loc(SURVEY, row, C.CHOICE_FILTER)
        m = re.fullmatch(r"\s*([A-Za-z_][\w.-]*)\s*=\s*\$\{\s*([A-Za-z_][\w.-]*)\s*\}\s*", flt) or \
            re.fullmatch(r"\s*\$\{\s*([A-Za-z_][\w.-]*)\s*\}\s*=\s*([A-Za-z_][\w.-]*)\s*", flt)
        if m is None:
            self.add(loc, f"the choice_filter '{short(flt)}' does not map to hailong",
                     "hailong reads only column = ${question} (one question per answer of that question); "
                     "otherwise write separate questions with a relevant each", q["id"])
            return []
        column, source = (m.group(1), m.group(2)) if flt.strip()[0] != "$" else (m.group(2), m.group(1))
        header = next((h for h in (c.header for c in self.sheet(CHOICES).columns) if h == column), None)
        if header is None:
            self.add(loc, f"the choice_filter reads the column '{column}', which the choices sheet does not have",
                     f"add a '{column}' column to the choices sheet, with the value of ${{{source}}} each choice "
                     "belongs to", q["id"])
            return []
        info = self.refs.get(source)
        if info is None or info.kind != "choice":
            self.add(loc, f"the choice_filter follows '{source}', which is not a select_one question",
                     "filter on an earlier select_one question", q["id"])
            return []
        out = []
        self.split[q["id"]] = source
        for value in info.values:
            mine = [(k, r) for k, r in enumerate(rows) if (r.cells.get(header) or "").strip() == str(value)]
            if not mine:
                continue
            cond: Condition = schema.Equals(equals=(source, value))
            copy = dict(q)
            copy["id"] = f"{q['id']}_{value}"
            copy["relevant"] = schema.All(all=[q["relevant"], cond]) if "relevant" in q else cond
            copy["options"] = [self.option(r, path + ("options", j)) for j, (_k, r) in enumerate(mine)]
            out.append(copy)
        if not out:
            self.add(loc, f"no choice of list '{list_name}' has a '{column}' equal to an answer of '{source}'",
                     f"fill the '{column}' column with values of ${{{source}}}", q["id"])
        return out

    def choice_filter_columns(self) -> set[str]:
        """Choices columns that choice_filter expressions read (not 'unknown columns')."""
        sh = self.sheet(SURVEY)
        names: set[str] = set()
        for row in sh.rows if sh is not None else []:
            flt = self.cell(SURVEY, row, C.CHOICE_FILTER)
            if flt is not None:
                names.update(re.findall(r"(?<![${\w.-])([A-Za-z_][\w.-]*)(?![\w.-]*\})", flt))
        return names

    def split_refs(self, data: dict[str, Any]) -> None:
        """A question split by its choice_filter has no answer of its own: refuse conditions on it."""
        if not self.split:
            return
        for path, cond in _conditions(data):
            for ref in schema.condition_refs(cond):
                if ref in self.split:
                    key = self.locate(path)
                    loc = self.locs[key] if key is not None else Loc(SURVEY)
                    self.add(loc, f"the condition reads '{ref}', which its choice_filter split into one question "
                             f"per answer of '{self.split[ref]}'",
                             f"read {ref}_<value> (one of: {', '.join(_split_ids(data, ref))})")


def _conditions(data: dict[str, Any]) -> list[tuple[Path_, Condition]]:
    out: list[tuple[Path_, Condition]] = []
    for i, sec in enumerate(data.get("sections", [])):
        if sec.get("relevant") is not None:
            out.append((("sections", i, "relevant"), sec["relevant"]))
        for j, q in enumerate(sec.get("questions", [])):
            for key in ("relevant", "constraint"):
                if q.get(key) is not None:
                    out.append((("sections", i, "questions", j, key), q[key]))
            for k, it in enumerate(q.get("items", []) or []):
                if it.get("relevant") is not None:
                    out.append((("sections", i, "questions", j, "items", k, "relevant"), it["relevant"]))
    for i, rule in enumerate(data.get("end_rules", [])):
        out.append((("end_rules", i, "when"), rule["when"]))
    return out


def _split_ids(data: dict[str, Any], ref: str) -> list[str]:
    return [q["id"] for sec in data.get("sections", []) for q in sec.get("questions", [])
            if str(q.get("id", "")).startswith(ref + "_")][:5]
