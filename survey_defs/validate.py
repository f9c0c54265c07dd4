"""Cross-reference checks on a parsed survey definition.

pydantic (``survey_defs.schema``) checks the *shape* of a definition; this module checks what a
shape cannot express: ids are unique, conditions read questions that exist and come earlier,
every text has its Vietnamese and its declared translations, each question type has the fields
it needs (and only those), scales are complete, index roles make sense, and the values a
condition compares with are values the question can actually take.

Every check adds a :class:`~survey_defs.errors.Problem` worded for the author of the YAML file
(what is wrong, where, how to fix it) and checking continues, so that one run reports *all*
problems. The rules follow how the engine walks a survey: questions in order, a matrix as one
step per item, relevance decided just before a step is asked (so it may read only earlier
steps), end rules evaluated after each answer (so they may read any step).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from survey_defs.conditions import leaf_ref, leaves
from survey_defs.errors import Problem
from survey_defs.schema import (
    YES_NO,
    AnswerValue,
    Compare,
    Condition,
    Equals,
    In,
    IndexRole,
    MatrixItem,
    Option,
    Question,
    QuestionType,
    Survey,
    Text,
)

# Maps a path inside the YAML document (e.g. ("sections", 2, "questions", 0)) to a 1-based line.
Locator = Callable[[tuple[str | int, ...]], int | None]
Path_ = tuple[str | int, ...]

# Ids become analytics columns and Telegram button data (callback_data is at most 64 bytes).
ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
MAX_STR_VALUE = 24
MAX_PER_LANGUAGE = 10  # missing-translation problems listed one by one per language

# Fields that only some question types use; anything else set on a question is a mistake.
_TYPE_FIELDS: dict[QuestionType, frozenset[str]] = {
    QuestionType.single: frozenset({"options"}),
    QuestionType.multi: frozenset({"options", "min_picks", "max_picks", "exclusive"}),
    QuestionType.scale: frozenset({"scale"}),
    QuestionType.matrix: frozenset({"scale", "items"}),
    QuestionType.yesno: frozenset(),
    QuestionType.number: frozenset({"min", "max"}),
    QuestionType.text: frozenset({"max_length"}),
    QuestionType.note: frozenset(),
}
_ALL_TYPE_FIELDS = ("options", "scale", "items", "min_picks", "max_picks", "exclusive", "min", "max",
                    "max_length")
_TYPE_WORDS = {
    QuestionType.single: "single-choice", QuestionType.multi: "multiple-choice",
    QuestionType.scale: "scale", QuestionType.matrix: "matrix", QuestionType.yesno: "yes/no",
    QuestionType.number: "number", QuestionType.text: "text", QuestionType.note: "note",
}


@dataclass(frozen=True, slots=True)
class StepInfo:
    """Where an id sits in asking order. ``kind``: question, item, matrix (no answer) or note."""

    pos: int
    kind: str
    question: Question
    item: MatrixItem | None
    path: Path_


def iter_steps(survey: Survey) -> Iterator[tuple[str, Question, MatrixItem | None]]:
    """Answerable steps in asking order: (step id, question, matrix item or None).

    A matrix contributes one step per item; a note contributes none.
    """
    for q in survey.questions:
        if q.type is QuestionType.note:
            continue
        if q.type is QuestionType.matrix:
            for it in q.items or []:
                yield it.id, q, it
        else:
            yield q.id, q, None


def survey_counts(survey: Survey) -> dict[str, int]:
    """Figures shown by ``hailong survey validate``: sections, questions, steps, index items."""
    counts = {"sections": len(survey.sections), "questions": len(survey.questions), "steps": 0,
              "satisfaction": 0, "perception": 0, "expectation": 0}
    for _sid, q, it in iter_steps(survey):
        counts["steps"] += 1
        role = it.index if it is not None else q.index
        if role is not None:
            counts[role.kind] += 1
    return counts


def _fmt_values(values: list[AnswerValue]) -> str:
    values = list(dict.fromkeys(values))
    return ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)


def _fmt_options(opts: list[Option]) -> str:
    return ", ".join(f"{o.value} {o.label.get('vi', '')}".strip() for o in opts)


class _Checker:
    def __init__(self, survey: Survey, file: str, locate: Locator | None) -> None:
        self.s = survey
        self.file = file
        self.locate = locate
        self.problems: list[Problem] = []
        self.steps: dict[str, StepInfo] = {}
        self.langs = list(survey.languages)
        self.missing_lang: dict[str, int] = {}
        self.undeclared: dict[str, list] = {}  # lang -> [(where, id, path, what) of the first text, count]

    # ------------------------------------------------------------------ helpers

    def add(self, where: str, item_id: str | None, path: Path_, problem: str, fix: str = "") -> None:
        line = self.locate(path) if self.locate is not None else None
        self.problems.append(Problem(self.file, where, problem, fix, item_id, line))

    def step_options(self, step_id: str) -> list[Option] | None:
        """Options a step's answer is one of (None when free: number, text, unknown scale)."""
        info = self.steps[step_id]
        q = info.question
        if q.options:
            return q.options
        if q.scale is not None:
            sc = self.s.scale_by_id.get(q.scale)
            return sc.options if sc is not None else None
        if q.type is QuestionType.yesno:
            return YES_NO
        return None

    def text(self, t: Text | None, what: str, where: str, item_id: str | None, path: Path_) -> None:
        if t is None:
            return
        if not str(t.get("vi", "")).strip():
            # The language in the path points a workbook reader at that language's column.
            self.add(where, item_id, path + ("vi",), f"{what} has no Vietnamese text ('vi')",
                     f"add vi: … to the {what} (Vietnamese with full diacritics)")
        for lang in self.langs:
            if lang != "vi" and not str(t.get(lang, "")).strip():
                # A whole missing language would list every text: name the first few, count the rest.
                n = self.missing_lang[lang] = self.missing_lang.get(lang, 0) + 1
                if n <= MAX_PER_LANGUAGE:
                    self.add(where, item_id, path + (lang,), f"{what} has no '{lang}' translation",
                             f"add {lang}: … to the {what}, or remove '{lang}' from languages")
        for lang in t:
            if lang not in self.langs:
                if lang in self.undeclared:
                    self.undeclared[lang][1] += 1
                else:
                    self.undeclared[lang] = [(where, item_id, path, what), 1]

    def options(self, opts: list[Option], where: str, item_id: str | None, path: Path_) -> None:
        seen: dict[str, int] = {}
        for k, o in enumerate(opts):
            key = repr(o.value)
            if key in seen:
                self.add(where, item_id, path + ("options", k),
                         f"option value {o.value!r} is used twice (options {seen[key] + 1} and {k + 1})",
                         "give every option its own value")
            else:
                seen[key] = k
            if isinstance(o.value, str) and not (0 < len(o.value) <= MAX_STR_VALUE):
                self.add(where, item_id, path + ("options", k),
                         f"option value {o.value!r} must be 1–{MAX_STR_VALUE} characters",
                         "use a short code or a number as the value; the label carries the text")
            self.text(o.label, f"option {o.value} label", where, item_id, path + ("options", k, "label"))
            for lang in o.aliases:
                if lang not in self.langs:
                    self.add(where, item_id, path + ("options", k),
                             f"option {o.value} has aliases in '{lang}', which is not a declared language",
                             f"fix the language code, or add '{lang}' to languages")

    def check_id(self, ident: str, what: str, where: str, path: Path_) -> None:
        if not ID_RE.match(ident):
            self.add(where, ident, path, f"{what} id '{ident}' is not a valid id",
                     "use letters, digits and _ only, starting with a letter, at most 40 characters "
                     "(ids become analytics columns and button data)")

    # ------------------------------------------------------------------ passes

    def run(self) -> list[Problem]:
        s = self.s
        if "vi" not in s.languages:
            self.add("survey", None, ("languages",), "languages does not include 'vi'",
                     "list Vietnamese first: languages: [vi, en]")
        dup_langs = {lang for lang in s.languages if s.languages.count(lang) > 1}
        for lang in sorted(dup_langs):
            self.add("survey", None, ("languages",), f"language '{lang}' is listed twice", "list it once")
        self.text(s.title, "title", "survey", None, ("title",))
        self.text(s.description, "description", "survey", None, ("description",))
        for key, msg in s.messages.items():
            self.text(msg, f"message '{key}'", "survey", None, ("messages", key))
        for key, name in s.pillars.items():
            self.text(name, f"pillar '{key}' name", "survey", None, ("pillars", key))
        for key, name in s.components.items():
            self.text(name, f"component '{key}' name", "survey", None, ("components", key))
        self.scales()
        self.index_steps()
        if not s.sections:
            self.add("survey", None, ("sections",), "the survey has no sections", "add at least one section")
        for i, sec in enumerate(s.sections):
            self.section(i, sec)
        seen_rules: dict[str, int] = {}
        for i, rule in enumerate(s.end_rules):
            where, path = f"end rule '{rule.id}'", ("end_rules", i)
            self.check_id(rule.id, "end rule", where, path)
            if rule.id in seen_rules:
                self.add(where, rule.id, path, f"end rule id '{rule.id}' is used twice",
                         "give every end rule its own id")
            seen_rules.setdefault(rule.id, i)
            self.text(rule.message, "message", where, rule.id, path + ("message",))
            self.condition(rule.when, "condition", where, rule.id, path + ("when",),
                           limit=None, self_ids=frozenset())
        for lang, n in self.missing_lang.items():
            if n > MAX_PER_LANGUAGE:
                self.add("survey", None, ("languages",),
                         f"{n - MAX_PER_LANGUAGE} more texts have no '{lang}' translation",
                         f"translate them, or remove '{lang}' from languages")
        for lang, ((where, ident, path, what), n) in self.undeclared.items():
            more = f" (and {n - 1} more texts)" if n > 1 else ""
            self.add(where, ident, path, f"{what} is given in '{lang}', which is not a declared language{more}",
                     f"fix the language code, or add '{lang}' to languages")
        return self.problems

    def scales(self) -> None:
        seen: set[str] = set()
        for i, sc in enumerate(self.s.scales):
            where, path = f"scale '{sc.id}'", ("scales", i)
            self.check_id(sc.id, "scale", where, path)
            if sc.id in seen:
                self.add(where, sc.id, path, f"scale id '{sc.id}' is used twice",
                         "give every scale its own id")
            seen.add(sc.id)
            if not sc.options:
                self.add(where, sc.id, path, "scale has no options",
                         "list its options, each with a value and a label (vi and every declared language)")
            self.options(sc.options, where, sc.id, path)
            values = [o.value for o in sc.options]
            bad = [v for v in sc.satisfied if v not in values]
            if bad and sc.options:
                self.add(where, sc.id, path + ("satisfied",),
                         f"satisfied value(s) {_fmt_values(bad)} are not values of the scale",
                         f"use values of the scale: {_fmt_values(values)}")

    def index_steps(self) -> None:
        """Record every id in asking order; report duplicates across questions and items."""
        pos = 0
        sec_seen: dict[str, int] = {}
        for i, sec in enumerate(self.s.sections):
            if sec.id in sec_seen:
                self.add(f"section '{sec.id}'", sec.id, ("sections", i), f"section id '{sec.id}' is used twice",
                         "give every section its own id")
            sec_seen.setdefault(sec.id, i)
            for j, q in enumerate(sec.questions):
                qpath: Path_ = ("sections", i, "questions", j)
                if q.type is QuestionType.matrix:
                    self.register(q.id, StepInfo(pos, "matrix", q, None, qpath), "question")
                    for k, it in enumerate(q.items or []):
                        self.register(it.id, StepInfo(pos, "item", q, it, qpath + ("items", k)), "matrix item")
                        pos += 1
                else:
                    kind = "note" if q.type is QuestionType.note else "question"
                    self.register(q.id, StepInfo(pos, kind, q, None, qpath), "question")
                    pos += 1

    def register(self, ident: str, info: StepInfo, what: str) -> None:
        where = f"{what} '{ident}'"
        self.check_id(ident, what, where, info.path)
        prev = self.steps.get(ident)
        if prev is not None:
            prev_what = "matrix item" if prev.kind == "item" else "question"
            self.add(where, ident, info.path,
                     f"id '{ident}' is already used by an earlier {prev_what}",
                     "rename one of them: question and matrix item ids are one answer column each "
                     "and must be unique in the survey")
            return
        self.steps[ident] = info

    def section(self, i: int, sec) -> None:  # noqa: ANN001 - Section
        where, path = f"section '{sec.id}'", ("sections", i)
        self.check_id(sec.id, "section", where, path)
        self.text(sec.title, "title", where, sec.id, path + ("title",))
        if not sec.questions:
            self.add(where, sec.id, path, "section has no questions", "add questions or remove the section")
        elif sec.relevant is not None:
            first = self.steps.get(sec.questions[0].id)
            limit = first.pos if first is not None else None
            self.condition(sec.relevant, "section relevance", where, sec.id, path + ("relevant",),
                           limit=limit, self_ids=frozenset())
        for j, q in enumerate(sec.questions):
            self.question(q, path + ("questions", j))

    def question(self, q: Question, path: Path_) -> None:
        where = f"question '{q.id}'"
        info = self.steps.get(q.id)
        own = info is not None and info.question is q
        word = _TYPE_WORDS[q.type]
        self.text(q.text, "text", where, q.id, path + ("text",))
        self.text(q.help, "help", where, q.id, path + ("help",))
        self.text(q.constraint_message, "constraint message", where, q.id, path + ("constraint_message",))

        for field in _ALL_TYPE_FIELDS:
            value = getattr(q, field)
            if field == "exclusive":
                value = value or None
            if value is not None and field not in _TYPE_FIELDS[q.type]:
                self.add(where, q.id, path + (field,), f"'{field}' does not apply to a {word} question",
                         f"remove '{field}', or change the type")

        if q.type in (QuestionType.single, QuestionType.multi):
            if not q.options:
                self.add(where, q.id, path, f"{word} question has no options",
                         "add options, each with a value and a label")
            else:
                self.options(q.options, where, q.id, path)
        elif q.options:
            self.options(q.options, where, q.id, path)
        if q.type in (QuestionType.scale, QuestionType.matrix):
            if q.scale is None:
                self.add(where, q.id, path, f"{word} question has no scale",
                         f"add scale: <id> (defined scales: {', '.join(self.s.scale_by_id) or 'none'})")
        if q.scale is not None and q.scale not in self.s.scale_by_id:
            close = difflib.get_close_matches(q.scale, list(self.s.scale_by_id), n=1)
            hint = f"did you mean '{close[0]}'?" if close else \
                f"define it under scales, or use one of: {', '.join(self.s.scale_by_id) or 'none'}"
            self.add(where, q.id, path + ("scale",), f"uses scale '{q.scale}', which is not defined", hint)
        if q.type is QuestionType.matrix and not q.items:
            self.add(where, q.id, path, "matrix question has no items", "add items, each with an id and a text")
        if q.type is QuestionType.number and q.min is not None and q.max is not None and q.min > q.max:
            self.add(where, q.id, path, f"min ({q.min}) is greater than max ({q.max})", "swap them or fix one")
        if q.type is QuestionType.text and q.max_length is not None and q.max_length <= 0:
            self.add(where, q.id, path + ("max_length",), f"max_length must be above 0 (is {q.max_length})",
                     "set a positive length such as 500, or leave it out")
        if q.type is QuestionType.multi:
            self.multi(q, where, path)
        if q.type is QuestionType.note:
            if q.constraint is not None:
                self.add(where, q.id, path + ("constraint",), "a note has a constraint, but a note takes no answer",
                         "remove the constraint, or make it a question that takes an answer")
            if q.index is not None:
                self.add(where, q.id, path + ("index",), "a note has an index role, but a note takes no answer",
                         "remove the index role")
        if q.constraint_message is not None and q.constraint is None:
            self.add(where, q.id, path + ("constraint_message",), "constraint_message without a constraint",
                     "add the constraint it explains, or remove the message")

        if q.index is not None and q.type is not QuestionType.note:
            if q.type is QuestionType.matrix:
                self.add(where, q.id, path + ("index",), "a matrix question has an index role of its own",
                         "put index roles on the matrix items")
            elif q.type is QuestionType.text:
                self.add(where, q.id, path + ("index",), "a text question cannot feed an index",
                         "remove the index role, or ask a choice or scale question")
            else:
                self.role(q.index, q, where, q.id, path + ("index",))

        if not own:
            return  # a duplicate id: positions belong to the first one
        if q.relevant is not None:
            items = frozenset(it.id for it in q.items or [])
            self.condition(q.relevant, "relevance", where, q.id, path + ("relevant",),
                           limit=info.pos, self_ids=frozenset({q.id}) | items)
        if q.constraint is not None and q.type is not QuestionType.note:
            n = len(q.items or []) if q.type is QuestionType.matrix else 1
            self.condition(q.constraint, "constraint", where, q.id, path + ("constraint",),
                           limit=info.pos + n, self_ids=frozenset())
        for k, it in enumerate(q.items or []):
            self.item(q, it, path + ("items", k))

    def multi(self, q: Question, where: str, path: Path_) -> None:
        n = len(q.options or [])
        lo, hi = q.min_picks, q.max_picks
        if lo is not None and lo < 0:
            self.add(where, q.id, path + ("min_picks",), f"min_picks is negative ({lo})", "use 0 or more")
        if lo is not None and hi is not None and lo > hi:
            self.add(where, q.id, path, f"min_picks ({lo}) is greater than max_picks ({hi})", "swap them or fix one")
        if hi is not None and n and hi > n:
            self.add(where, q.id, path + ("max_picks",), f"max_picks ({hi}) is more than the {n} options",
                     f"use at most {n}, or leave max_picks out")
        if lo is not None and n and lo > n:
            self.add(where, q.id, path + ("min_picks",), f"min_picks ({lo}) is more than the {n} options",
                     f"use at most {n}")
        if hi is not None and hi < 1:
            self.add(where, q.id, path + ("max_picks",), f"max_picks must be at least 1 (is {hi})",
                     "use 1 or more, or leave max_picks out")
        values = [o.value for o in q.options or []]
        bad = [v for v in q.exclusive if v not in values]
        if bad and values:
            self.add(where, q.id, path + ("exclusive",),
                     f"exclusive value(s) {_fmt_values(bad)} are not among the options",
                     f"use option values: {_fmt_values(values)}")

    def item(self, q: Question, it: MatrixItem, path: Path_) -> None:
        where = f"matrix item '{it.id}'"
        info = self.steps.get(it.id)
        self.text(it.text, "text", where, it.id, path + ("text",))
        if it.index is not None:
            self.role(it.index, q, where, it.id, path + ("index",))
        if it.relevant is not None and info is not None and info.item is it:
            self.condition(it.relevant, "relevance", where, it.id, path + ("relevant",),
                           limit=info.pos, self_ids=frozenset({it.id, q.id}))

    def role(self, role: IndexRole, q: Question, where: str, ident: str, path: Path_) -> None:
        sc = self.s.scale_by_id.get(q.scale) if q.scale is not None else None
        opts = self.s.options_of(q) if (q.options or sc is not None or q.type is QuestionType.yesno) else []
        values = [o.value for o in opts]
        if role.satisfied is not None and values:
            bad = [v for v in role.satisfied if v not in values]
            src = f"scale '{q.scale}'" if sc is not None else "the options"
            if bad:
                self.add(where, ident, path + ("satisfied",),
                         f"index satisfied value(s) {_fmt_values(bad)} are not in {src}",
                         f"use values of {src}: {_fmt_values(values)}")
        if role.kind == "satisfaction":
            if q.scale is None:
                self.add(where, ident, path,
                         "satisfaction index item without a scale",
                         "ask it on a scale (type: scale or matrix, with scale: sat5) so that "
                         "'satisfied' has a meaning, or change the index kind")
            elif sc is not None and not (role.satisfied if role.satisfied is not None else sc.satisfied):
                self.add(where, ident, path,
                         "no answer value counts as satisfied for this satisfaction item",
                         f"set satisfied: [4, 5] on scale '{sc.id}' or on the index role")
            if self.s.pillars and role.pillar not in self.s.pillars:
                self.add(where, ident, path + ("pillar",),
                         f"index pillar {role.pillar!r} is not listed under pillars",
                         f"use one of: {', '.join(self.s.pillars)}, or add it to pillars")
            if self.s.components and role.component not in self.s.components:
                self.add(where, ident, path + ("component",),
                         f"index component {role.component!r} is not listed under components",
                         f"use one of: {', '.join(self.s.components)}, or add it to components")

    # ------------------------------------------------------------------ conditions

    def condition(self, cond: Condition, role: str, where: str, ident: str, path: Path_, *,
                  limit: int | None, self_ids: frozenset[str]) -> None:
        """Check every id a condition reads: it exists, has an answer, comes before ``limit``."""
        for leaf in leaves(cond):
            ref = leaf_ref(leaf)
            info = self.steps.get(ref)
            if info is None:
                close = difflib.get_close_matches(ref, list(self.steps), n=1)
                fix = f"did you mean '{close[0]}'?" if close else "use the id of a question or matrix item"
                self.add(where, ident, path, f"{role} refers to '{ref}', which does not exist", fix)
                continue
            if info.kind == "matrix":
                first = (info.question.items or [None])[0]
                eg = f", e.g. '{first.id}'" if first is not None else ""
                self.add(where, ident, path,
                         f"{role} refers to matrix '{ref}', which has no answer of its own",
                         f"refer to one of its items{eg}")
                continue
            if info.kind == "note":
                self.add(where, ident, path, f"{role} refers to note '{ref}', which takes no answer",
                         "refer to a question that takes an answer")
                continue
            if ref in self_ids:
                self.add(where, ident, path,
                         f"{role} refers to '{ref}' itself — conditions may only read earlier questions",
                         "refer to an earlier question (use a constraint to check the answer itself)")
                continue
            if limit is not None and info.pos >= limit:
                self.add(where, ident, path,
                         f"{role} refers to '{ref}' which comes later — conditions may only read earlier "
                         "questions", "move the condition or the question")
                continue
            self.leaf_values(leaf, ref, info, role, where, ident, path)

    def leaf_values(self, leaf: Condition, ref: str, info: StepInfo, role: str, where: str, ident: str,
                    path: Path_) -> None:
        opts = self.step_options(ref)
        qtype = info.question.type
        if isinstance(leaf, (Equals, In)):
            wanted = [leaf.equals[1]] if isinstance(leaf, Equals) else list(leaf.in_[1])
            if isinstance(leaf, In) and not wanted:
                self.add(where, ident, path, f"{role} tests '{ref}' against an empty list",
                         "list at least one value")
            if opts:
                values = [o.value for o in opts]
                bad = [v for v in wanted if v not in values]
                if bad:
                    self.add(where, ident, path,
                             f"{role} compares '{ref}' with {_fmt_values(bad)}, which is not one of its values "
                             f"({_fmt_options(opts)})", f"use one of: {_fmt_values(values)}")
        elif isinstance(leaf, Compare):
            numeric = qtype in (QuestionType.number, QuestionType.scale, QuestionType.yesno) or info.kind == "item"
            if qtype is QuestionType.single and opts and all(isinstance(o.value, int) for o in opts):
                numeric = True
            if not numeric:
                self.add(where, ident, path,
                         f"{role} compares '{ref}' ({_TYPE_WORDS[qtype]}) as a number — lt/le/gt/ge apply "
                         "only to number, scale, yes/no and matrix answers",
                         "use equals/in for choices, or answered for text")


def validate_survey(survey: Survey, file: str = "<survey>", locate: Locator | None = None) -> list[Problem]:
    """Every cross-reference problem of ``survey`` (empty list: the definition is usable).

    ``file`` names the source in messages; ``locate`` maps a path inside the document to a line
    number so that messages can point at the line (the YAML loader provides it).
    """
    return _Checker(survey, file, locate).run()
