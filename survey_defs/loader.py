"""Load a questionnaire: YAML text → pydantic :class:`Survey` → cross-reference checks.

Every failure becomes a :class:`DefinitionError` whose problems name the file, the place (a
question id, or a path in the document and its line) and the fix — a YAML syntax error, a
pydantic validation error and a failed cross-check all read the same way, and all problems of a
file are reported at once.

YAML is read with two deliberate departures from PyYAML's YAML 1.1 defaults, because both bite
questionnaire authors: only ``true``/``false`` are booleans (so ``en: No`` is the text "No", not
False), and a key written twice in one mapping is an error instead of silently keeping the last.

The shipped questionnaires (``survey_defs/*.yaml``) are loaded once per process by
:func:`get_survey`; a Survey is immutable, so sharing it is safe.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from survey_defs.errors import DefinitionError, Problem, UnknownSurveyError
from survey_defs.schema import (
    EndRule,
    IndexRole,
    MatrixItem,
    Option,
    Question,
    Scale,
    Section,
    Survey,
)
from survey_defs.validate import Locator, validate_survey

__all__ = ["DefinitionError", "Problem", "UnknownSurveyError", "build_survey", "get_survey", "load_survey",
           "parse_survey", "shipped_paths"]

SHIPPED_DIR = Path(__file__).resolve().parent

_BOOL_TAG = "tag:yaml.org,2002:bool"


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans and an error on duplicate mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"the key '{key}' is written twice (first on line {seen[key].start_mark.line + 1})",
                    key_node.start_mark)
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


# ---------------------------------------------------------------------- positions in the document

def _node_at(root: yaml.Node | None, path: tuple[str | int, ...]) -> yaml.Node | None:
    """The deepest YAML node along ``path`` (stops where the path leaves the document)."""
    node = root
    for key in path:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(key):
                    nxt = v
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            nxt = node.value[key]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
    return node


def _locator(root: yaml.Node | None):  # noqa: ANN202 - a Locator
    def locate(path: tuple[str | int, ...]) -> int | None:
        node = _node_at(root, path)
        return node.start_mark.line + 1 if node is not None else None
    return locate


# ---------------------------------------------------------------------- pydantic errors → Problems

_CONDITION_FIELDS = {"relevant", "constraint", "when"}
_CONDITION_KEYS = ("equals", "in", "not", "all", "any", "answered", "lt", "le", "gt", "ge")
_ROLE_WORDS = {"relevant": "relevance", "constraint": "constraint", "when": "condition"}
# Model of the mapping found under a list / key, to name allowed fields in "unknown field" hints.
_LIST_MODELS = {"sections": Section, "questions": Question, "items": MatrixItem, "scales": Scale,
                "options": Option, "end_rules": EndRule}


def _get(data: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def _id_of(data: Any, path: tuple[str | int, ...]) -> str | None:
    node = _get(data, path)
    if isinstance(node, dict) and isinstance(node.get("id"), (str, int)):
        return str(node["id"])
    return None


def _describe_path(data: Any, loc: tuple[str | int, ...]) -> tuple[str, str | None, str]:
    """(where, id, field path relative to the named entity) for a pydantic location."""
    where, ident, rest_from = "survey", None, 0
    words = {"sections": "section", "questions": "question", "items": "matrix item", "scales": "scale",
             "end_rules": "end rule"}
    for n in range(len(loc) - 1):
        key, idx = loc[n], loc[n + 1]
        if key in words and isinstance(idx, int):
            found = _id_of(data, loc[: n + 2])
            if found is not None:
                where, ident = f"{words[key]} '{found}'", found
            else:
                where, ident = _fmt_loc(loc[: n + 2]), None
            rest_from = n + 2
    return where, ident, _fmt_loc(loc[rest_from:])


def _fmt_loc(loc: tuple[str | int, ...]) -> str:
    out = ""
    for key in loc:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            out += ("." if out else "") + str(key)
    return out


def _model_for(loc: tuple[str | int, ...]) -> type | None:
    """The pydantic model that owns the mapping at ``loc`` (for allowed-field hints)."""
    if not loc:
        return Survey
    if isinstance(loc[-1], int) and len(loc) >= 2 and loc[-2] in _LIST_MODELS:
        return _LIST_MODELS[str(loc[-2])]
    if loc[-1] == "index":
        return IndexRole
    return None


def _condition_problem(raw: Any) -> tuple[str, str]:
    """Explain why ``raw`` is not a valid condition: (problem, fix)."""
    keys_hint = "write one of: " + ", ".join(_CONDITION_KEYS) + " (e.g. equals: [q_consent, 1])"
    if not isinstance(raw, dict):
        return f"is not a condition (got {type(raw).__name__})", keys_hint
    keys = list(raw)
    known = [k for k in keys if k in _CONDITION_KEYS]
    unknown = [k for k in keys if k not in _CONDITION_KEYS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), _CONDITION_KEYS, n=1)
        fix = f"did you mean '{close[0]}'?" if close else keys_hint
        return f"unknown condition key '{unknown[0]}'", fix
    if len(known) != 1:
        return (f"a condition needs exactly one key, found {len(known)} ({', '.join(map(str, known)) or 'none'})",
                "combine several tests with all: [...] or any: [...]")
    key = known[0]
    val = raw[key]
    if key in ("all", "any"):
        if not isinstance(val, list) or not val:
            return f"'{key}' needs a non-empty list of conditions", f"{key}: [{{equals: [q1, 1]}}, …]"
        for k, sub in enumerate(val):
            p, f = _condition_problem(sub)
            if p:
                return f"{key}[{k}] {p}", f
        return "", ""
    if key == "not":
        p, f = _condition_problem(val)
        return (f"not {p}", f) if p else ("", "")
    if key == "answered":
        if not isinstance(val, str):
            return "'answered' needs a question id", "answered: q_id"
        return "", ""
    if key == "equals":
        if not (isinstance(val, list) and len(val) == 2 and isinstance(val[0], str)
                and isinstance(val[1], (int, str)) and not isinstance(val[1], bool)):
            return "'equals' needs [question id, value]", "equals: [q_id, 1]"
        return "", ""
    if key == "in":
        if not (isinstance(val, list) and len(val) == 2 and isinstance(val[0], str) and isinstance(val[1], list)):
            return "'in' needs [question id, [values]]", "in: [q_id, [1, 2]]"
        return "", ""
    if not (isinstance(val, list) and len(val) == 2 and isinstance(val[0], str)
            and isinstance(val[1], (int, float)) and not isinstance(val[1], bool)):
        return f"'{key}' needs [question id, number]", f"{key}: [q_age, 18]"
    return "", ""


def _hint_for(err: dict[str, Any], loc: tuple[str | int, ...], field: str) -> tuple[str, str]:
    """(problem, fix) for one pydantic error at ``loc``; ``field`` names the value for the author."""
    typ = err["type"]
    got = err.get("input")
    if typ == "missing":
        if loc[-1] == "label" and len(loc) >= 3 and loc[-3] == "options" and isinstance(loc[-2], int):
            return f"option {loc[-2] + 1} has no label", "add label: {vi: …, en: …}"
        return f"'{field}' is missing", f"add {field}: …"
    if typ == "extra_forbidden":
        model = _model_for(loc[:-1])
        allowed = [f.alias or n for n, f in model.model_fields.items()] if model is not None else []
        close = difflib.get_close_matches(field, allowed, n=1)
        if close:
            return f"unknown field '{field}'", f"did you mean '{close[0]}'?"
        return f"unknown field '{field}'", ("remove it; allowed fields: " + ", ".join(allowed)) if allowed \
            else "remove it"
    if typ in ("enum", "literal_error"):
        return f"'{field}' is {got!r}, which is not allowed", \
            f"use one of: {err.get('ctx', {}).get('expected', '')}".replace("'", "")
    if typ == "answer_value":
        return f"'{field}' must be a whole number or a text (got {got!r})", "write a value such as 1 or a short code"
    if typ in ("int_parsing", "int_type", "int_from_float"):
        return f"'{field}' must be a whole number (got {got!r})", "write a number such as 10"
    if typ in ("float_parsing", "float_type"):
        return f"'{field}' must be a number (got {got!r})", "write a number such as 18"
    if typ == "string_type":
        return f"'{field}' must be text (got {got!r})", "write the text, in quotes if needed"
    if typ in ("dict_type", "model_type", "model_attributes_type"):
        return f"'{field}' must be a mapping (got {type(got).__name__})", \
            "write key: value pairs under it (e.g. vi: …, en: …)" if field in (
                "text", "title", "label", "help", "message", "description") else "write key: value pairs under it"
    if typ in ("list_type", "tuple_type"):
        return f"'{field}' must be a list (got {type(got).__name__})", "write it as a list: [a, b] or lines starting with -"
    if typ in ("bool_type", "bool_parsing"):
        return f"'{field}' must be true or false (got {got!r})", "write true or false"
    if typ in ("too_short", "too_long"):
        return f"'{field}' has the wrong number of parts ({err['msg']})", "check the list against the documentation"
    return f"'{field}': {err['msg']}", "fix the value"


_UNION_TAGS = {"int", "str"}  # AnswerValue = int | str reports one error per member


def _translate(exc: ValidationError, data: Any, file: str, locate) -> list[Problem]:  # noqa: ANN001
    problems: list[Problem] = []
    seen: set[tuple] = set()
    for err in exc.errors():
        loc = tuple(err["loc"])
        # Condition unions report one error per union member; explain the condition once instead.
        cut = next((n for n in range(len(loc)) if loc[n] in _CONDITION_FIELDS and n + 1 < len(loc)
                    and isinstance(loc[n + 1], str) and not _is_model_field(loc, n)), None)
        if cut is not None:
            cond_loc = loc[: cut + 1]
            if cond_loc in seen:
                continue
            seen.add(cond_loc)
            where, ident, _rest = _describe_path(data, cond_loc)
            problem, fix = _condition_problem(_get(data, cond_loc))
            if not problem:  # the shape is right; the error is deeper (e.g. a value type)
                problem, fix = f"{err['msg']}", "fix the condition"
            role = _ROLE_WORDS.get(str(loc[cut]), str(loc[cut]))
            problems.append(Problem(file, where, f"{role}: {problem}", fix, ident, locate(cond_loc)))
            continue
        if loc and loc[-1] in _UNION_TAGS:
            loc = loc[:-1]
            err = {**err, "type": "answer_value"}
        if loc in seen:
            continue
        seen.add(loc)
        if not loc:
            problems.append(Problem(file, "survey", err["msg"], "fix the document", None, 1))
            continue
        if isinstance(loc[-1], int):
            # An element of a list: name it as 'options[2]' under the entity that owns the list.
            where, ident, rest = _describe_path(data, loc[:-1])
            field = f"{loc[-2]}[{loc[-1]}]" if len(loc) >= 2 else f"[{loc[-1]}]"
            parent = rest.rsplit(".", 1)[0] if "." in rest else ""
        else:
            where, ident, _rest = _describe_path(data, loc)
            field = str(loc[-1])
            parent = _describe_path(data, loc[:-1])[2]
        problem, fix = _hint_for(err, loc, field)
        if parent and not problem.startswith("option "):
            problem = f"{parent}: {problem}"
        problems.append(Problem(file, where, problem, fix, ident, locate(loc)))
    return problems


def _is_model_field(loc: tuple[str | int, ...], n: int) -> bool:
    """True when loc[n + 1] is a real field name under loc[n] (not a union member tag)."""
    tag = loc[n + 1]
    return not (tag in ("Equals", "In", "Not", "All", "Any_", "Answered", "Compare")
                or str(tag).startswith("function-after["))


def _by_line(problems: list[Problem]) -> list[Problem]:
    """Problems in file order (those without a line keep their order, at the end)."""
    return sorted(problems, key=lambda p: p.line if p.line is not None else 1 << 30)


# ---------------------------------------------------------------------- public API

def parse_survey(text: str, file: str = "<string>") -> Survey:
    """Parse and validate a definition given as YAML text; ``file`` names it in messages."""
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or exc.context or "invalid YAML"
        fix = ("check the indentation and quote text that contains ': ' or starts with a special "
               "character (- ? : , [ ] { } # & * ! | > ' \" % @ `)")
        if "written twice" in (exc.problem or ""):
            fix = "keep one of them"
        where = f"line {line}" if line is not None else ""
        raise DefinitionError([Problem(file, where, f"YAML syntax error: {what}", fix, None, line)]) from None
    except yaml.YAMLError as exc:
        raise DefinitionError([Problem(file, "", f"YAML syntax error: {exc}", "fix the YAML syntax")]) from None
    if not isinstance(data, dict):
        raise DefinitionError([Problem(file, "", "the file is not a survey definition (expected a mapping "
                                       "with id, version, title, sections)",
                                       "start from survey_defs/sipas-services-2021.yaml as an example", None, 1)])
    return build_survey(data, file, _locator(root))


def build_survey(data: dict[str, Any], file: str, locate: Locator | None = None) -> Survey:
    """Validate a definition given as plain data (the YAML document, or a converted workbook).

    Shape errors (pydantic) and cross-reference problems become one :class:`DefinitionError`
    listing every problem; ``locate`` maps a path in ``data`` to a position (a YAML line, or a
    workbook cell key) so that each problem can point at it.
    """
    try:
        survey = Survey.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(_by_line(_translate(exc, data, file, locate or _no_position))) from None
    problems = validate_survey(survey, file, locate)
    if problems:
        raise DefinitionError(_by_line(problems))
    return survey


def _no_position(_path: tuple[str | int, ...]) -> int | None:
    return None


def load_survey(path: str | Path) -> Survey:
    """Load, validate and return the survey defined in the YAML file at ``path``.

    Raises :class:`DefinitionError` listing every problem (file name, place, problem, fix).
    A missing or unreadable file is a DefinitionError too, so callers handle one exception.
    """
    p = Path(path)
    name = p.name
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DefinitionError([Problem(name, "", f"file not found: {p}", "check the path")]) from None
    except UnicodeDecodeError as exc:
        raise DefinitionError([Problem(name, "", f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})",
                                       "save it as UTF-8")]) from None
    except OSError as exc:
        raise DefinitionError([Problem(name, "", f"cannot read the file: {exc.strerror}",
                                       "check the path and permissions")]) from None
    return parse_survey(text, name)


def shipped_paths() -> list[Path]:
    """The questionnaires shipped with hailong (``survey_defs/*.yaml``), sorted by file name."""
    return sorted(SHIPPED_DIR.glob("*.yaml"))


_lock = threading.Lock()
_shipped: dict[str, Survey] | None = None


def _load_shipped() -> dict[str, Survey]:
    global _shipped
    with _lock:
        if _shipped is None:
            found: dict[str, Survey] = {}
            problems: list[Problem] = []
            for path in shipped_paths():
                try:
                    survey = load_survey(path)
                except DefinitionError as exc:
                    problems.extend(exc.problems)
                    continue
                if survey.id in found:
                    problems.append(Problem(path.name, "survey", f"survey id '{survey.id}' is also used by "
                                            "another shipped file", "give every questionnaire its own id",
                                            survey.id, None))
                found[survey.id] = survey
            if problems:
                raise DefinitionError(problems)
            _shipped = found
        return _shipped


def get_survey(survey_id: str) -> Survey:
    """A shipped questionnaire by id (e.g. ``sipas-households``), loaded once and cached.

    Raises :class:`UnknownSurveyError` (a LookupError) for an unknown id, and
    :class:`DefinitionError` if a shipped file is broken.
    """
    shipped = _load_shipped()
    try:
        return shipped[survey_id]
    except KeyError:
        raise UnknownSurveyError(survey_id, sorted(shipped)) from None


def shipped_ids() -> list[str]:
    """Ids of the shipped questionnaires, sorted."""
    return sorted(_load_shipped())
