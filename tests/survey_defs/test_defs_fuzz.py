"""Whatever an author writes, loading gives a Survey or a DefinitionError — never a crash.

Hypothesis mutates a small valid definition (drops, replaces or renames one node anywhere) and
also feeds arbitrary text. Every failure must be a DefinitionError whose problems each name the
file and say what is wrong.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from survey_defs.loader import DefinitionError, parse_survey
from survey_defs.schema import Survey

VALID = """
id: fuzz
version: "1"
languages: [vi, en]
title: {vi: "Thử", en: "Test"}
components:
  "1": {vi: "Tiếp cận", en: "Access"}
scales:
  - id: sat5
    satisfied: [4, 5]
    options:
      - {value: 1, label: {vi: "Không hài lòng", en: "Dissatisfied"}, aliases: {vi: ["khong"]}}
      - {value: 4, label: {vi: "Hài lòng", en: "Satisfied"}}
      - {value: 5, label: {vi: "Rất hài lòng", en: "Very satisfied"}}
sections:
  - id: main
    title: {vi: "Chính", en: "Main"}
    questions:
      - {id: q_consent, type: yesno, text: {vi: "Đồng ý?", en: "Agree?"}}
      - {id: q_age, type: number, min: 10, max: 120, text: {vi: "Tuổi?", en: "Age?"},
         constraint: {ge: [q_age, 10]}, constraint_message: {vi: "Sai", en: "Wrong"}}
      - id: q2
        type: multi
        min_picks: 1
        max_picks: 2
        exclusive: [9]
        text: {vi: "Kênh?", en: "Channels?"}
        options:
          - {value: 1, label: {vi: "Loa", en: "Loudspeaker"}}
          - {value: 9, label: {vi: "Không", en: "None"}}
      - id: q9
        type: matrix
        scale: sat5
        relevant: {any: [{equals: [q2, 1]}, {not: {answered: q_age}}]}
        text: {vi: "Hài lòng?", en: "Satisfied?"}
        items:
          - {id: q9_1, text: {vi: "Một", en: "One"}, index: {kind: satisfaction, pillar: s, component: "1"}}
          - {id: q9_2, text: {vi: "Hai", en: "Two"}, relevant: {in: [q9_1, [4, 5]]},
             index: {kind: satisfaction, component: "1", satisfied: [5]}}
      - {id: q_comment, type: text, required: false, max_length: 50, text: {vi: "Ý kiến", en: "Comment"}}
end_rules:
  - {id: refused, when: {equals: [q_consent, 0]}, outcome: refused, message: {vi: "Cảm ơn", en: "Thanks"}}
  - {id: young, when: {lt: [q_age, 18]}, message: {vi: "Cảm ơn", en: "Thanks"}}
"""
BASE: dict[str, Any] = yaml.safe_load(VALID)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


PATHS = _paths(BASE)[1:]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 200), st.floats(allow_nan=False, width=32),
                    st.text(max_size=12), st.sampled_from(["q_age", "q9", "q9_1", "sat5", "vi", "en", "1", "equals"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)


def _mutate(data: Any, path: tuple, action: str, value: Any, new_key: str) -> Any:
    data = copy.deepcopy(data)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = value
    elif isinstance(parent, dict):
        parent[new_key] = parent.pop(last)
    else:
        parent.insert(last, value)
    return data


def _check(text: str) -> None:
    try:
        survey = parse_survey(text, "fuzz.yaml")
    except DefinitionError as exc:
        assert exc.problems
        for p in exc.problems:
            assert p.file == "fuzz.yaml" and p.problem
            assert str(p).startswith("fuzz.yaml: ")
            assert "\n" not in p.where
        return
    assert isinstance(survey, Survey)
    assert len(survey.content_hash) == 64


def test_the_base_definition_is_valid() -> None:
    parse_survey(VALID, "fuzz.yaml")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), action=st.sampled_from(["delete", "replace", "rename"]), value=values,
       new_key=st.sampled_from(["id", "text", "relevant", "equals", "optoins", "x", "items", "scale", "in"]))
def test_mutated_definitions_never_crash(path: tuple, action: str, value: Any, new_key: str) -> None:
    _check(yaml.safe_dump(_mutate(BASE, path, action, value, new_key), allow_unicode=True))


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes(text: str) -> None:
    _check(text)


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(0, len(VALID)))
def test_truncated_files_never_crash(cut: int) -> None:
    _check(VALID[:cut])
