"""The columns and sheets of an XLSForm as hailong reads and writes it: one place for every name.

Standard XLSForm columns keep their XLSForm names; what hailong needs and XLSForm lacks is a
column whose name starts with ``hailong_`` (index roles, number bounds, ticks, the scale
"satisfied" values…) or one of two extra sheets, ``hailong_texts`` (translated survey title,
description, messages, pillar and component names) and ``hailong_end_rules`` (screening end
rules). Other XLSForm tools ignore all of them.

Why ``hailong_x`` and not ``hailong::x``: in XLSForm ``::`` separates a column from its
language, and pyxform turns an unknown ``a::b`` column of the choices sheet into a nested
element that breaks the form; one spelling for every sheet avoids two rules.

:data:`DOCUMENTED` (column or sheet -> meaning) is what ``docs/authoring.md`` must describe
(a test checks it).
"""

from __future__ import annotations

import re

from pyxform import aliases
from pyxform.parsing.sheet_headers import to_snake_case

PREFIX = "hailong_"

# ---- survey sheet, standard XLSForm
TYPE = "type"
NAME = "name"
LABEL = "label"
HINT = "hint"
REQUIRED = "required"
RELEVANT = "relevant"
CONSTRAINT = "constraint"
CONSTRAINT_MESSAGE = "constraint_message"
CHOICE_FILTER = "choice_filter"
APPEARANCE = "appearance"

# ---- survey sheet, hailong's
H_TYPE = "hailong_type"
H_INDEX = "hailong_index"
H_PILLAR = "hailong_pillar"
H_COMPONENT = "hailong_component"
H_CRITERION = "hailong_criterion"
H_SATISFIED = "hailong_satisfied"
H_MIN = "hailong_min"
H_MAX = "hailong_max"
H_MAX_LENGTH = "hailong_max_length"
H_MIN_PICKS = "hailong_min_picks"
H_MAX_PICKS = "hailong_max_picks"
H_EXCLUSIVE = "hailong_exclusive"

# ---- choices sheet
LIST_NAME = "list_name"
H_ALIASES = "hailong_aliases"   # written hailong_aliases_<language code>, e.g. hailong_aliases_vi

# ---- settings sheet
FORM_ID = "form_id"
FORM_TITLE = "form_title"
VERSION = "version"
DEFAULT_LANGUAGE = "default_language"

# ---- hailong's sheets
KIND = "kind"
WHEN = "when"
OUTCOME = "outcome"
MESSAGE = "message"

TEXT_KINDS = ("title", "description", "message", "pillar", "component")

TRANSLATED_SURVEY = (LABEL, HINT, CONSTRAINT_MESSAGE)
SURVEY_COLUMNS = (TYPE, NAME, LABEL, HINT, REQUIRED, RELEVANT, CONSTRAINT, CONSTRAINT_MESSAGE, CHOICE_FILTER,
                  APPEARANCE)
HAILONG_SURVEY_COLUMNS = (H_TYPE, H_INDEX, H_PILLAR, H_COMPONENT, H_CRITERION, H_SATISFIED, H_MIN, H_MAX,
                          H_MAX_LENGTH, H_MIN_PICKS, H_MAX_PICKS, H_EXCLUSIVE)
CHOICES_COLUMNS = (LIST_NAME, NAME, LABEL, H_SATISFIED)
SETTINGS_COLUMNS = (FORM_ID, FORM_TITLE, VERSION, DEFAULT_LANGUAGE)
TEXTS_COLUMNS = (KIND, NAME, LABEL)
END_RULES_COLUMNS = (NAME, WHEN, OUTCOME, MESSAGE)

#: XLSForm columns with a meaning hailong cannot keep: refused when a cell in them is filled.
REFUSED_COLUMNS = {
    "calculation": "hailong computes nothing in the form; derive the value in analytics",
    "default": "hailong never pre-fills an answer; leave it empty",
    "read_only": "every hailong question takes an answer; use a note to show text",
    "repeat_count": "hailong has no repeats",
    "trigger": "hailong has no calculations to trigger",
    "parameters": "hailong has no parameters; use hailong_min / hailong_max for numbers",
    "required_message": "hailong words the 'this is required' message itself; leave it empty",
}
#: Presentation columns that other tools use and a chat cannot: read and ignored, with a warning.
IGNORED_COLUMNS = ("image", "big-image", "audio", "video", "guidance_hint", "autoplay", "media", "body",
                   "rows", "compact_tag", "label_translation", "note")

# Human words for each hailong column and sheet (docs/authoring.md must mention each: tested).
DOCUMENTED: dict[str, str] = {
    H_TYPE: "single, scale or yesno on a select_one row (when the default guess is not what you mean)",
    H_INDEX: "index role kind: satisfaction, perception or expectation",
    H_PILLAR: "index pillar key, e.g. services",
    H_COMPONENT: "index component key, e.g. II.A",
    H_CRITERION: "the criterion's short name",
    H_SATISFIED: "survey row: values counted as satisfied (\"4 5\"); choices row: yes on the satisfied options",
    H_MIN: "integer: smallest answer",
    H_MAX: "integer: largest answer",
    H_MAX_LENGTH: "text: longest answer in characters",
    H_MIN_PICKS: "select_multiple: fewest ticks",
    H_MAX_PICKS: "select_multiple: most ticks",
    H_EXCLUSIVE: "select_multiple: option values that cannot be ticked with others (\"9 99\")",
    H_ALIASES + "_vi": "choices: extra typed forms of an option, separated by ';' (one column per language)",
    "hailong_texts": "sheet: kind, name, label::… rows for title, description, message, pillar, component",
    "hailong_end_rules": "sheet: name, when, outcome, message::… rows, one per screening end rule",
}

# Language names written in headers ("label::Vietnamese (vi)"); any other code is written as itself.
LANGUAGE_NAMES = {"vi": "Vietnamese", "en": "English", "fr": "French", "zh": "Chinese", "km": "Khmer",
                  "lo": "Lao", "th": "Thai", "hmn": "Hmong"}

_LANG_IN_BRACKETS = re.compile(r"^.*\(\s*([A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?)\s*\)\s*$")
_BARE_CODE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$")

# pyxform's own column aliases ("relevance" -> relevant, "constraint message" -> …), mapped back to
# the XLSForm names hailong uses.
_PYXFORM_TO_XLSFORM = {"jr:constraintMsg": CONSTRAINT_MESSAGE, "jr:requiredMsg": "required_message",
                       "readonly": "read_only", "calculate": "calculation", "jr:count": "repeat_count"}


def language_header(column: str, lang: str) -> str:
    """``label::Vietnamese (vi)``."""
    name = LANGUAGE_NAMES.get(lang, lang)
    return f"{column}::{name} ({lang})"


def aliases_header(lang: str) -> str:
    return f"{H_ALIASES}_{lang}"


def language_code(part: str) -> str | None:
    """The code in ``Vietnamese (vi)`` or a bare ``vi``; None when no code can be read."""
    m = _LANG_IN_BRACKETS.match(part)
    if m:
        return m.group(1)
    part = part.strip()
    return part if _BARE_CODE.match(part) else None


def canonical(header: str) -> tuple[str, str | None]:
    """(column name, language part or None) of a header, with pyxform's aliases resolved.

    ``label::Vietnamese (vi)`` -> ("label", "Vietnamese (vi)"); ``Relevance`` -> ("relevant", None);
    ``hailong_aliases_vi`` stays as written (the language is in the name).
    """
    base, sep, rest = header.partition("::")
    base = base.strip()
    lang = rest.strip() if sep else None
    if base.lower().startswith(PREFIX):
        return base.lower(), lang
    snake = to_snake_case(base)
    alias = aliases.survey_header.get(snake)
    if isinstance(alias, tuple):
        snake = _PYXFORM_TO_XLSFORM.get(alias[1], alias[1])
    elif isinstance(alias, str) and alias in ("label", "type", "name"):
        snake = alias
    return snake, lang
