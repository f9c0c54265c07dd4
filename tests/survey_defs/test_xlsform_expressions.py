"""XLSForm expressions ↔ structured conditions: the mapping table, refusals, and write → read."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from survey_defs.schema import All, Answered, Any_, Compare, Condition, Equals, In, Not
from survey_defs.xlsform.expressions import (
    MAX_DEPTH,
    ExpressionError,
    RefInfo,
    condition_to_expression,
    parse_condition,
    tokenize,
)

REFS = {"q": RefInfo("choice", (1, 2, 3)), "m": RefInfo("multi", ("a", "b", "c")), "age": RefInfo("number"),
        "t": RefInfo("text"), "code": RefInfo("choice", ("x1", "y2"))}
KIND = {k: v.kind for k, v in REFS.items()}


def parse(text: str, self_id: str | None = None) -> Condition:
    return parse_condition(text, REFS.get, self_id)


def dump(cond: Condition) -> object:
    return cond.model_dump(mode="json", by_alias=True, exclude_none=True)


MAPPING = [
    ("${q} = '1'", {"equals": ["q", 1]}),
    ("'2' = ${q}", {"equals": ["q", 2]}),
    ("${q} = 3", {"equals": ["q", 3]}),
    ("${code} = 'x1'", {"equals": ["code", "x1"]}),
    ("${q} = ‘1’", {"equals": ["q", 1]}),                       # smart quotes typed by Word / Excel
    ("selected(${m}, 'b')", {"equals": ["m", "b"]}),
    ("selected(${q}, '2')", {"equals": ["q", 2]}),
    ("${q} = '1' or ${q} = '2'", {"in": ["q", [1, 2]]}),
    ("selected(${m}, 'a') or selected(${m}, 'c')", {"in": ["m", ["a", "c"]]}),
    ("(${q} = '1') or (${q} = '2')", {"any": [{"equals": ["q", 1]}, {"equals": ["q", 2]}]}),
    ("${q} != '1'", {"not": {"equals": ["q", 1]}}),
    ("${t} != ''", {"answered": "t"}),
    ("${t} = ''", {"not": {"answered": "t"}}),
    ("${age} < 18", {"lt": ["age", 18.0]}),
    ("${age} <= 18", {"le": ["age", 18.0]}),
    ("18 > ${age}", {"lt": ["age", 18.0]}),
    ("${age} >= '18'", {"ge": ["age", 18.0]}),
    ("${age} > -2.5", {"gt": ["age", -2.5]}),
    ("${age} = 40", {"equals": ["age", 40]}),
    ("${age} = '40'", {"equals": ["age", 40]}),
    ("not(${q} = '1' and ${age} > 3)", {"not": {"all": [{"equals": ["q", 1]}, {"gt": ["age", 3.0]}]}}),
    ("${q} = '1' and ${age} > 3 and ${t} != ''",
     {"all": [{"equals": ["q", 1]}, {"gt": ["age", 3.0]}, {"answered": "t"}]}),
    ("(${q} = '1' and ${age} > 3) and ${t} != ''",
     {"all": [{"all": [{"equals": ["q", 1]}, {"gt": ["age", 3.0]}]}, {"answered": "t"}]}),
    ("${q} = '1' or ${age} > 3 and ${t} != ''",
     {"any": [{"equals": ["q", 1]}, {"all": [{"gt": ["age", 3.0]}, {"answered": "t"}]}]}),
    ("  ${q}='1'and${age}>3  ", {"all": [{"equals": ["q", 1]}, {"gt": ["age", 3.0]}]}),
]


@pytest.mark.parametrize(("text", "expected"), MAPPING)
def test_expression_maps_to_the_structured_condition(text: str, expected: object) -> None:
    assert dump(parse(text)) == expected


def test_dot_is_the_question_itself_in_a_constraint() -> None:
    assert dump(parse(". >= 18 and . <= 120", self_id="age")) == {"all": [{"ge": ["age", 18.0]},
                                                                          {"le": ["age", 120.0]}]}


REFUSALS = [
    ("${q} == '1'", "'==' is not an XLSForm operator", 5),
    ("${q} = '1' && ${q} = '2'", "'&&' is not an XLSForm operator", 11),
    ("${q} <> '1'", "'<>' is not an XLSForm operator", 5),
    ("${age} => 18", "'=>' is not an XLSForm operator", 7),
    ("!(${q} = '1')", "'!' alone is not an XLSForm operator", 0),
    ("${m} = 'a'", "'=' on a several-choice question compares the whole set of ticks", 5),
    ("${q} = ${age}", "comparing two answers with each other", 5),
    ("'1' = '1'", "comparing two fixed values is not a condition", 4),
    ("${age} + 1 > 3", "arithmetic ('+')", 7),
    ("${age} mod 2 = 0", "arithmetic ('mod')", 7),
    ("/data/q = '1'", "an XPath path or filter", 0),
    ("${q}", "a question alone is not a condition", 0),
    ("${q} = '1' and", "expected a question or a value, found the end of the text", 14),
    ("${q} = '1' ${age} > 3", "unexpected '${age}'", 11),
    ("not ${q} = '1'", "'not' is a function in XLSForm", 0),
    ("NOT(${q} = '1')", "'NOT' must be written in lower case", 0),
    ("today() > 3", "the function today() does not map", 0),
    ("true()", "the function true() does not map", 0),
    ("${age} = 2.5", "2.5 is not a whole number", 9),
    ("${age} < 'abc'", "'<' compares numbers, and 'abc' is not a number", 9),
    ("${t} > 3", "'>' compares numbers, and 't' is a text question", 5),
    ("selected(${age}, '1')", "selected() applies to choice questions", 0),
    ("${q", "'${' is not closed", 0),
    ("${q} = 'open", "a text value is not closed", 7),
    ("${last-saved#q} = '1'", "last-saved", 0),
    ("${a b} = '1'", "'${a b}' is not a question name", 0),
    ("yes", "'yes' is neither a question nor a value", 0),
    (". = '1'", "can be used only in a constraint", 0),
    ("", "the expression is empty", 0),
    ("${q} = '1' ? 1 : 2", "unexpected character '?'", 11),
]


@pytest.mark.parametrize(("text", "problem", "pos"), REFUSALS)
def test_what_does_not_map_is_refused_with_position_and_a_fix(text: str, problem: str, pos: int) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert problem in info.value.problem
    assert info.value.pos == pos
    assert info.value.fix


def test_nesting_is_bounded_without_recursion_errors() -> None:
    ok = "(" * MAX_DEPTH + "${q} = '1'" + ")" * MAX_DEPTH
    assert dump(parse(ok)) == {"equals": ["q", 1]}
    for deep in ("(" * (MAX_DEPTH + 1) + "${q} = '1'" + ")" * (MAX_DEPTH + 1),
                 "not(" * (MAX_DEPTH + 1) + "${q} = '1'" + ")" * (MAX_DEPTH + 1),
                 "(" * 1900):
        with pytest.raises(ExpressionError, match="nested more than"):
            parse(deep)


def test_tokenizer_positions() -> None:
    toks = tokenize("${q} >= -3 and selected(., 'x')")
    assert [(t.kind, t.text, t.pos) for t in toks] == [
        ("REF", "q", 0), ("OP", ">=", 5), ("NUM", "-3", 8), ("NAME", "and", 11), ("NAME", "selected", 15),
        ("LP", "(", 23), ("SELF", ".", 24), ("COMMA", ",", 25), ("STR", "x", 27), ("RP", ")", 30),
        ("END", "", 31)]


# ---------------------------------------------------------------------------- write, then read

def _leaf() -> st.SearchStrategy[Condition]:
    return st.one_of(
        st.builds(lambda v: Equals(equals=("q", v)), st.sampled_from([1, 2, 3])),
        st.builds(lambda v: Equals(equals=("m", v)), st.sampled_from(["a", "b", "c"])),
        st.builds(lambda v: Equals(equals=("age", v)), st.integers(-5, 130)),
        st.builds(lambda v: Equals(equals=("t", v)), st.text("ab 'é1", min_size=1, max_size=6)),
        st.builds(lambda vs: In(in_=("q", vs)), st.lists(st.sampled_from([1, 2, 3]), min_size=1, max_size=3)),
        st.builds(lambda vs: In(in_=("m", vs)), st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=3)),
        st.builds(lambda r: Answered(answered=r), st.sampled_from(list(REFS))),
        st.builds(lambda op, r, x: Compare(**{op: (r, x)}), st.sampled_from(["lt", "le", "gt", "ge"]),
                  st.sampled_from(["age", "q"]),
                  st.one_of(st.integers(-1000, 1000).map(float),
                            st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))),
    )


CONDITIONS = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.builds(lambda c: Not(not_=c), inner),
        st.builds(lambda cs: All(all=cs), st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: Any_(any=cs), st.lists(inner, min_size=1, max_size=3)),
    ),
    max_leaves=8,
)


def normal(cond: Condition) -> Condition:
    """The documented normalisations: one-element all/any is its element, one-value in is equals."""
    if isinstance(cond, In) and len(cond.in_[1]) == 1:
        return Equals(equals=(cond.in_[0], cond.in_[1][0]))
    if isinstance(cond, Not):
        return Not(not_=normal(cond.not_))
    if isinstance(cond, (All, Any_)):
        parts = [normal(c) for c in (cond.all if isinstance(cond, All) else cond.any)]
        if len(parts) == 1:
            return parts[0]
        return All(all=parts) if isinstance(cond, All) else Any_(any=parts)
    return cond


@settings(max_examples=300, deadline=None)
@given(CONDITIONS, st.sampled_from([None, "age", "q"]))
def test_written_expression_reads_back_to_the_same_condition(cond: Condition, self_id: str | None) -> None:
    text = condition_to_expression(cond, KIND.get, self_id)
    assert parse_condition(text, REFS.get, self_id) == normal(cond), text


def test_writer_forms() -> None:
    cases = [
        (Equals(equals=("q", 1)), "${q} = '1'"),
        (Equals(equals=("m", "a")), "selected(${m}, 'a')"),
        (Equals(equals=("age", 3)), "${age} = 3"),
        (Equals(equals=("t", "it's")), "${t} = \"it's\""),
        (In(in_=("q", [1, 2])), "${q} = '1' or ${q} = '2'"),
        (Not(not_=Answered(answered="t")), "${t} = ''"),
        (Compare(lt=("age", 1e-7)), "${age} < 0.0000001"),
        (Any_(any=[Equals(equals=("q", 1)), Equals(equals=("q", 2))]), "(${q} = '1') or (${q} = '2')"),
        (All(all=[In(in_=("q", [1, 2])), Any_(any=[Answered(answered="t"), Compare(ge=("age", 18))])]),
         "(${q} = '1' or ${q} = '2') and (${t} != '' or ${age} >= 18)"),
    ]
    for cond, text in cases:
        assert condition_to_expression(cond, KIND.get) == text
    assert condition_to_expression(Compare(ge=("age", 18)), KIND.get, self_id="age") == ". >= 18"
    with pytest.raises(ExpressionError, match="both kinds of quote"):
        condition_to_expression(Equals(equals=("t", "it's \"x\"")), KIND.get)
