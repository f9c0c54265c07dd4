"""XLSForm expressions ↔ hailong's structured conditions (never ``eval``).

An XLSForm writes relevance, constraints (and, in hailong's extra sheet, end rules) as XPath
text: ``${q_consent} = '1' and not(selected(${q2}, '7'))``. hailong stores conditions as data
(:mod:`survey_defs.schema`: equals, in, not, all, any, answered, lt/le/gt/ge). This module is
the one translation between the two, so that a later single condition evaluator (issue 13,
``survey_defs/conditions.py``) can be targeted by changing this module alone.

Reading is a small tokenizer plus a recursive-descent parser over the subset that maps:

====================================  =============================================
XLSForm                               hailong
====================================  =============================================
``${q} = '1'`` (also ``'1' = ${q}``)  ``{equals: [q, 1]}`` (1 typed like q's values)
``selected(${q}, '7')``               ``{equals: [q, 7]}`` (for several choices: is among the ticks)
``${q} = '1' or ${q} = '2'``          ``{in: [q, [1, 2]]}`` (an unbracketed chain on one question)
``${q} != '1'``                       ``{not: {equals: [q, 1]}}``
``${q} != ''`` / ``${q} = ''``        ``{answered: q}`` / ``{not: {answered: q}}``
``${q} < 18`` (<, <=, >, >=)          ``{lt: [q, 18]}`` (le, gt, ge)
``a and b``, ``a or b``, ``not(a)``   ``{all: […]}``, ``{any: […]}``, ``{not: …}``
``( … )``                             keeps its contents one condition (``(a and b) and c``
                                      stays ``all: [all: [a, b], c]``)
``.``                                 the question itself (constraints only)
====================================  =============================================

Anything else (arithmetic, other functions, comparing two questions, paths) is refused with
what to write instead, and the position in the text. Writing back
(:func:`condition_to_expression`) produces text that reads back to the same condition, except
for three documented normalisations: a one-element ``all``/``any`` is its element, an ``in``
with one value is an ``equals``, and a value written for a choice question takes the type of
that question's option values.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from survey_defs.schema import (
    All,
    Answered,
    AnswerValue,
    Any_,
    Compare,
    Condition,
    Equals,
    In,
    Not,
)

#: Longest expression read (characters): a questionnaire condition is a line, not a program.
MAX_LENGTH = 2000
#: Deepest nesting of brackets and not(…) read; deeper text is refused, not recursed into.
MAX_DEPTH = 20

# How an answer is compared: a choice among options, several choices, a number or free text.
RefKind = Literal["choice", "multi", "number", "text"]


@dataclass(frozen=True, slots=True)
class RefInfo:
    """What a question reference in an expression points at (for typing values and `=` rules)."""

    kind: RefKind
    values: tuple[AnswerValue, ...] = ()   # option values of a choice / multi question


Lookup = Callable[[str], "RefInfo | None"]


class ExpressionError(ValueError):
    """An expression that does not map to a condition: ``problem``, ``fix`` and 0-based ``pos``."""

    def __init__(self, problem: str, fix: str, pos: int | None = None) -> None:
        self.problem = problem
        self.fix = fix
        self.pos = pos
        super().__init__(problem)


# ---------------------------------------------------------------------------- tokenizer

@dataclass(frozen=True, slots=True)
class Token:
    kind: str    # REF SELF STR NUM NAME OP LP RP COMMA END
    text: str    # the value: a question name, the string's content, the operator, the word
    pos: int     # 0-based offset in the expression


_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_NUM_RE = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_REF_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_QUOTES = {"'": "'", '"': '"', "\u2018": "\u2019", "\u201c": "\u201d"}  # smart quotes from Word/Excel
_OPERAND_KINDS = frozenset({"REF", "SELF", "STR", "NUM", "RP"})
_WORD_OPERATORS = {"AND": "and", "OR": "or", "NOT": "not"}


def tokenize(text: str) -> list[Token]:
    """Split an expression into tokens; unknown characters are refused with a hint."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        prev = out[-1].kind if out else None
        if ch == "$":
            if not text.startswith("${", i):
                raise ExpressionError("'$' must start a question reference", "write ${question_name}", i)
            end = text.find("}", i + 2)
            if end < 0:
                raise ExpressionError("'${' is not closed", "write ${question_name} with a closing }", i)
            name = text[i + 2:end].strip()
            if name.startswith("last-saved#"):
                raise ExpressionError("${last-saved#…} (the previous form's answer) does not map to hailong",
                                      "refer to a question of this questionnaire", i)
            if not _REF_NAME_RE.fullmatch(name):
                raise ExpressionError(f"'${{{name}}}' is not a question name", "write ${question_name}", i)
            out.append(Token("REF", name, i))
            i = end + 1
            continue
        if ch in _QUOTES:
            close = _QUOTES[ch]
            end = text.find(close, i + 1)
            if end < 0:
                raise ExpressionError("a text value is not closed", f"close it with {close}", i)
            out.append(Token("STR", text[i + 1:end], i))
            i = end + 1
            continue
        two = text[i:i + 2]
        if two in ("!=", "<=", ">="):
            out.append(Token("OP", two, i))
            i += 2
            continue
        if two == "==":
            raise ExpressionError("'==' is not an XLSForm operator", "write a single '=': ${q} = '1'", i)
        if two in ("&&", "||"):
            word = "and" if two == "&&" else "or"
            raise ExpressionError(f"'{two}' is not an XLSForm operator", f"write '{word}'", i)
        if two in ("=>", "=<"):
            raise ExpressionError(f"'{two}' is not an XLSForm operator", f"write '{two[::-1]}'", i)
        if two == "<>":
            raise ExpressionError("'<>' is not an XLSForm operator", "write '!=' for 'is not'", i)
        if ch in "=<>":
            out.append(Token("OP", ch, i))
            i += 1
            continue
        if ch == "!":
            raise ExpressionError("'!' alone is not an XLSForm operator", "write not(…), or '!=' for 'is not'", i)
        if ch == "(":
            out.append(Token("LP", ch, i))
            i += 1
            continue
        if ch == ")":
            out.append(Token("RP", ch, i))
            i += 1
            continue
        if ch == ",":
            out.append(Token("COMMA", ch, i))
            i += 1
            continue
        num_start = i + 1 if ch == "-" and prev not in _OPERAND_KINDS else i
        m = _NUM_RE.match(text, num_start)
        if m is not None and (num_start == i or ch == "-"):
            out.append(Token("NUM", text[i:m.end()], i))
            i = m.end()
            continue
        if ch == "." and not text.startswith("..", i):
            out.append(Token("SELF", ".", i))
            i += 1
            continue
        m = _NAME_RE.match(text, i)
        if m is not None:
            out.append(Token("NAME", m.group(0), i))
            i = m.end()
            continue
        if ch in "+-*":
            raise ExpressionError(f"arithmetic ('{ch}') does not map to a hailong condition",
                                  "compare an answer with a fixed value, e.g. ${q_age} >= 18", i)
        if ch in "/[]{}|" or text.startswith("..", i):
            raise ExpressionError(f"'{ch}' (an XPath path or filter) does not map to a hailong condition",
                                  "refer to questions as ${name}", i)
        raise ExpressionError(f"unexpected character '{ch}'", "use ${q}, values in quotes, =, !=, <, <=, >, >=, "
                              "and, or, not(…), selected(…) and brackets", i)
    out.append(Token("END", "", n))
    return out


# ---------------------------------------------------------------------------- parser

_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "!=": "!="}
_CMP = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_SUPPORTED = "use =, !=, <, <=, >, >=, and, or, not(…), selected(${q}, 'value') and brackets"


@dataclass(slots=True)
class _Parsed:
    cond: Condition
    bracketed: bool = False   # came from "( … )": never merged into the surrounding chain


class _Parser:
    def __init__(self, tokens: list[Token], self_id: str | None, lookup: Lookup) -> None:
        self.toks = tokens
        self.i = 0
        self.self_id = self_id
        self.lookup = lookup
        self.depth = 0

    # -- helpers
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, kind: str, what: str, fix: str) -> Token:
        if self.tok.kind != kind:
            found = _shown(self.tok)
            raise ExpressionError(f"expected {what}, found {found}", fix, self.tok.pos)
        return self.take()

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} levels deep",
                                  "split it into simpler conditions", pos)

    def is_word(self, word: str) -> bool:
        return self.tok.kind == "NAME" and self.tok.text == word

    # -- grammar
    def parse(self) -> Condition:
        if self.tok.kind == "END":
            raise ExpressionError("the expression is empty", "write a condition such as ${q} = '1'", 0)
        result = self.or_expr()
        if self.tok.kind != "END":
            t = self.tok
            if t.kind == "NAME" and t.text in _WORD_OPERATORS:
                raise ExpressionError(f"'{t.text}' must be written in lower case", f"write '{t.text.lower()}'", t.pos)
            raise ExpressionError(f"unexpected {_shown(t)} after a complete condition",
                                  "join conditions with 'and' or 'or'", t.pos)
        return result.cond

    def or_expr(self) -> _Parsed:
        parts = [self.and_expr()]
        while self.is_word("or"):
            self.take()
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        merged = _as_in(parts)
        return _Parsed(merged if merged is not None else Any_(any=[p.cond for p in parts]))

    def and_expr(self) -> _Parsed:
        parts = [self.unary()]
        while self.is_word("and"):
            self.take()
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return _Parsed(All(all=[p.cond for p in parts]))

    def unary(self) -> _Parsed:
        t = self.tok
        if t.kind == "LP":
            self.take()
            self.enter(t.pos)
            inner = self.or_expr()
            self.expect("RP", "')'", "close every '(' with ')'")
            self.depth -= 1
            return _Parsed(inner.cond, bracketed=True)
        if t.kind == "NAME":
            word = t.text
            nxt = self.toks[self.i + 1]
            if word == "not" and nxt.kind == "LP":
                self.take()
                self.take()
                self.enter(t.pos)
                inner = self.or_expr()
                self.expect("RP", "')' closing not(", "close not( with ')'")
                self.depth -= 1
                return _Parsed(Not(not_=inner.cond))
            if word == "selected" and nxt.kind == "LP":
                return _Parsed(self.selected())
            if word in ("and", "or"):
                raise ExpressionError(f"'{word}' needs a condition before it", "write a condition such as ${q} = '1'",
                                      t.pos)
            if word in _WORD_OPERATORS:
                raise ExpressionError(f"'{word}' must be written in lower case",
                                      f"write '{_WORD_OPERATORS[word]}'", t.pos)
            if word == "not":
                raise ExpressionError("'not' is a function in XLSForm", "write not(${q} = '1')", t.pos)
            if nxt.kind == "LP":
                raise ExpressionError(f"the function {word}() does not map to a hailong condition", _hint_for(word),
                                      t.pos)
        return _Parsed(self.comparison())

    def selected(self) -> Condition:
        start = self.take()
        self.take()  # (
        ref = self.operand_ref("selected(")
        self.expect("COMMA", "',' in selected(${q}, 'value')", "write selected(${q}, 'value')")
        lit = self.take()
        if lit.kind not in ("STR", "NUM"):
            raise ExpressionError("selected() needs a value in quotes as its second part",
                                  "write selected(${q}, 'value')", lit.pos)
        self.expect("RP", "')' closing selected(", "write selected(${q}, 'value')")
        info = self.lookup(ref)
        if info is not None and info.kind in ("number", "text"):
            raise ExpressionError(f"selected() applies to choice questions, and '{ref}' is a {info.kind} question",
                                  f"write ${{{ref}}} = value", start.pos)
        return Equals(equals=(ref, _typed_value(lit, info)))

    def operand_ref(self, where: str) -> str:
        t = self.take()
        if t.kind == "REF":
            return t.text
        if t.kind == "SELF":
            if self.self_id is None:
                raise ExpressionError("'.' (this question's own answer) can be used only in a constraint",
                                      "refer to questions as ${name}", t.pos)
            return self.self_id
        raise ExpressionError(f"{where} needs a question (${{name}}) first", "write selected(${q}, 'value')", t.pos)

    def operand(self) -> Token:
        t = self.take()
        if t.kind in ("REF", "SELF", "STR", "NUM"):
            if t.kind == "SELF" and self.self_id is None:
                raise ExpressionError("'.' (this question's own answer) can be used only in a constraint",
                                      "refer to questions as ${name}", t.pos)
            return t
        if t.kind == "NAME":
            if t.text in ("true", "false"):
                raise ExpressionError(f"{t.text}() does not map to a hailong condition",
                                      "leave the cell empty for 'always'", t.pos)
            raise ExpressionError(f"'{t.text}' is neither a question nor a value",
                                  f"write ${{{t.text}}} for the question, or '{t.text}' in quotes for a text value",
                                  t.pos)
        raise ExpressionError(f"expected a question or a value, found {_shown(t)}", "write a condition such as "
                              "${q} = '1'", t.pos)

    def comparison(self) -> Condition:
        left = self.operand()
        op_tok = self.tok
        if op_tok.kind == "NAME" and op_tok.text in ("div", "mod"):
            raise ExpressionError(f"arithmetic ('{op_tok.text}') does not map to a hailong condition",
                                  "compare an answer with a fixed value, e.g. ${q_age} >= 18", op_tok.pos)
        if op_tok.kind != "OP":
            if left.kind in ("REF", "SELF"):
                raise ExpressionError("a question alone is not a condition",
                                      f"compare it: ${{{self.ref_name(left)}}} = 'value', or != '' for 'answered'",
                                      op_tok.pos if op_tok.kind != "END" else left.pos)
            raise ExpressionError("a value alone is not a condition", "compare a question with it: ${q} = 'value'",
                                  left.pos)
        self.take()
        right = self.operand()
        refs = [t for t in (left, right) if t.kind in ("REF", "SELF")]
        if len(refs) == 2:
            raise ExpressionError("comparing two answers with each other does not map to a hailong condition",
                                  "compare one answer with a fixed value", op_tok.pos)
        if not refs:
            raise ExpressionError("comparing two fixed values is not a condition", "compare a question with a value",
                                  op_tok.pos)
        op = op_tok.text
        if left.kind in ("REF", "SELF"):
            ref_tok, lit = left, right
        else:
            ref_tok, lit, op = right, left, _FLIP[op]
        ref = self.ref_name(ref_tok)
        info = self.lookup(ref)
        if op in ("=", "!="):
            if lit.kind == "STR" and lit.text == "":
                return Not(not_=Answered(answered=ref)) if op == "=" else Answered(answered=ref)
            if info is not None and info.kind == "multi":
                raise ExpressionError(f"'{op}' on a several-choice question compares the whole set of ticks",
                                      f"write selected(${{{ref}}}, '{lit.text}')" +
                                      (" inside not(…)" if op == "!=" else ""), op_tok.pos)
            eq = Equals(equals=(ref, _typed_value(lit, info)))
            return eq if op == "=" else Not(not_=eq)
        number = _number(lit)
        if number is None:
            raise ExpressionError(f"'{op}' compares numbers, and '{lit.text}' is not a number",
                                  "compare with a number, e.g. ${q_age} >= 18", lit.pos)
        if info is not None and info.kind in ("multi", "text"):
            raise ExpressionError(f"'{op}' compares numbers, and '{ref}' is a {_KIND_WORDS[info.kind]} question",
                                  "use = or selected() for choices, != '' for 'answered'", op_tok.pos)
        return Compare(**{_CMP[op]: (ref, number)})

    def ref_name(self, t: Token) -> str:
        return self.self_id if t.kind == "SELF" and self.self_id is not None else t.text


def _shown(t: Token) -> str:
    """A token as the author wrote it, for messages."""
    if t.kind == "END":
        return "the end of the text"
    if t.kind == "REF":
        return f"'${{{t.text}}}'"
    if t.kind == "STR":
        return f"the text '{t.text}'"
    return f"'{t.text}'"


_KIND_WORDS = {"choice": "choice", "multi": "several-choice", "number": "number", "text": "text"}
_FUNCTION_HINTS = {
    "count-selected": "to limit ticks use the hailong_min_picks / hailong_max_picks columns",
    "string-length": "for 'answered' write ${q} != ''; to limit length use hailong_max_length",
    "regex": "hailong checks the answer's type itself; use a constraint with =, <, > …",
    "if": "split the condition into relevant rows, or use and/or",
    "jr:choice-name": "compare the value instead: ${q} = '1'",
    "today": "dates do not map to hailong conditions",
}


def _hint_for(word: str) -> str:
    return _FUNCTION_HINTS.get(word, _SUPPORTED)


def _number(t: Token) -> float | None:
    if t.kind == "NUM":
        return float(t.text)
    if t.kind == "STR":
        try:
            v = float(t.text.strip())
        except ValueError:
            return None
        return v if math.isfinite(v) else None
    return None


_INT_RE = re.compile(r"-?(?:0|[1-9]\d{0,17})")


def _typed_value(lit: Token, info: RefInfo | None) -> AnswerValue:
    """The literal as the referenced question stores it: 1 for '1' when its option values are numbers."""
    if info is not None and info.values:
        for v in info.values:
            if str(v) == lit.text.strip():
                return v
    text = lit.text
    if lit.kind == "NUM":
        f = float(text)
        if not f.is_integer():
            raise ExpressionError(f"{text} is not a whole number, and hailong answers are whole numbers or codes",
                                  "compare with a whole number, or use <, > for a range", lit.pos)
        return int(f)
    if info is not None and info.kind == "number":
        if _INT_RE.fullmatch(text.strip()):
            return int(text.strip())
        raise ExpressionError(f"'{text}' is not a whole number, and this is a number question",
                              "compare with a whole number, e.g. ${q_age} = 18", lit.pos)
    if info is not None and info.kind in ("choice", "multi") and _INT_RE.fullmatch(text):
        return int(text)  # not among the values: reported by the checks, typed like the others
    return text


def _as_in(parts: list[_Parsed]) -> Condition | None:
    """An unbracketed or-chain of equals on one question is that question's ``in``."""
    if any(p.bracketed or not isinstance(p.cond, Equals) for p in parts):
        return None
    refs = {p.cond.equals[0] for p in parts}  # type: ignore[union-attr]
    if len(refs) != 1:
        return None
    return In(in_=(refs.pop(), [p.cond.equals[1] for p in parts]))  # type: ignore[union-attr]


def parse_condition(text: str, lookup: Lookup, self_id: str | None = None) -> Condition:
    """Parse an XLSForm expression into a structured condition, or raise :class:`ExpressionError`.

    ``lookup(name)`` tells what a question is (None for an unknown name: the value is kept as
    written and the checks after the import report the name); ``self_id`` is what ``.`` means
    (a constraint's own question), None where ``.`` is not allowed.
    """
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is {len(text)} characters long (at most {MAX_LENGTH})",
                              "split it into simpler conditions")
    return _Parser(tokenize(text), self_id, lookup).parse()


# ---------------------------------------------------------------------------- writing

def normalise(cond: Condition) -> Condition:
    """The condition as it reads back from its XLSForm text (see the module docstring).

    A one-element ``all``/``any`` is its element and a one-value ``in`` is an ``equals``: XPath
    has no other way to write them. Everything else is kept as it is.
    """
    if isinstance(cond, In) and len(cond.in_[1]) == 1:
        return Equals(equals=(cond.in_[0], cond.in_[1][0]))
    if isinstance(cond, Not):
        return Not(not_=normalise(cond.not_))
    if isinstance(cond, (All, Any_)):
        parts = [normalise(c) for c in (cond.all if isinstance(cond, All) else cond.any)]
        if len(parts) == 1:
            return parts[0]
        return All(all=parts) if isinstance(cond, All) else Any_(any=parts)
    return cond


KindOf = Callable[[str], "RefKind | None"]


def condition_to_expression(cond: Condition, kind_of: KindOf, self_id: str | None = None) -> str:
    """XLSForm text for a condition, reading back to the same condition with :func:`parse_condition`.

    ``kind_of(id)`` tells how the question ``id`` is compared; ``self_id`` is written as ``.``.
    """
    return _Writer(kind_of, self_id).write(cond, nested=False)


class _Writer:
    def __init__(self, kind_of: KindOf, self_id: str | None) -> None:
        self.kind_of = kind_of
        self.self_id = self_id

    def ref(self, ident: str) -> str:
        return "." if ident == self.self_id else f"${{{ident}}}"

    def equals(self, ident: str, value: AnswerValue) -> str:
        kind = self.kind_of(ident)
        if kind == "multi":
            return f"selected({self.ref(ident)}, {_quote(value)})"
        if kind == "number" and isinstance(value, int):
            return f"{self.ref(ident)} = {value}"
        return f"{self.ref(ident)} = {_quote(value)}"

    def write(self, cond: Condition, nested: bool) -> str:
        if isinstance(cond, Equals):
            return self.equals(*cond.equals)
        if isinstance(cond, In):
            ident, values = cond.in_
            if not values:
                raise ExpressionError(f"'in' on '{ident}' has no values", "list at least one value")
            text = " or ".join(self.equals(ident, v) for v in values)
            return f"({text})" if nested and len(values) > 1 else text
        if isinstance(cond, Answered):
            return f"{self.ref(cond.answered)} != ''"
        if isinstance(cond, Not):
            inner = cond.not_
            if isinstance(inner, Answered):
                return f"{self.ref(inner.answered)} = ''"
            return f"not({self.write(inner, nested=False)})"
        if isinstance(cond, (All, Any_)):
            parts = cond.all if isinstance(cond, All) else cond.any
            if not parts:
                raise ExpressionError(f"an empty '{'all' if isinstance(cond, All) else 'any'}' has no XLSForm form",
                                      "remove it")
            if len(parts) == 1:
                return self.write(parts[0], nested)
            # Equals on one question joined by 'or' would read back as 'in': bracket each to keep 'any'.
            # (A one-value 'in' or a one-element all/any is written as the equals inside it.)
            guard = isinstance(cond, Any_) and _as_in([_Parsed(normalise(p)) for p in parts]) is not None
            texts = [f"({self.write(p, nested=True)})" if guard else self.write(p, nested=True) for p in parts]
            text = (" and " if isinstance(cond, All) else " or ").join(texts)
            return f"({text})" if nested else text
        assert isinstance(cond, Compare)
        for key, op in (("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">=")):
            pair = getattr(cond, key)
            if pair is not None:
                return f"{self.ref(pair[0])} {op} {_num_text(pair[1])}"
        raise AssertionError("Compare without an operator")  # prevented by Compare's validator


def _num_text(x: float) -> str:
    """A number as XLSForm text without an exponent (1e-07 is not XPath): the shortest exact digits."""
    if float(x).is_integer():
        return str(int(x))
    return format(Decimal(repr(float(x))), "f")


def _quote(value: AnswerValue) -> str:
    text = str(value)
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    raise ExpressionError(f"the value {text!r} contains both kinds of quote and cannot be written in XLSForm",
                          "change the value")
