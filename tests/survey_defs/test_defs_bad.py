"""Broken definitions fail with the precise message: file, place, problem and fix.

One small YAML file per check lives in tests/fixtures/bad_defs/. Each expected line is the
whole message an author would read, so a vaguer wording (or a lost file name, id or hint)
fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from survey_defs.loader import DefinitionError, load_survey, parse_survey

BAD = Path(__file__).parents[1] / "fixtures" / "bad_defs"

# file stem -> (line of the problem, full message)
EXPECTED: dict[str, tuple[int, str]] = {
    "yaml_syntax": (16, "yaml_syntax.yaml: line 16: YAML syntax error: expected ',' or '}', but got '<stream end>'; "
                        "check the indentation and quote text that contains ': ' or starts with a special character "
                        "(- ? : , [ ] { } # & * ! | > ' \" % @ `)"),
    "duplicate_key": (16, "duplicate_key.yaml: line 16: YAML syntax error: the key 'type' is written twice "
                          "(first on line 14); keep one of them"),
    "not_a_mapping": (1, "not_a_mapping.yaml: the file is not a survey definition (expected a mapping with id, "
                         "version, title, sections); start from survey_defs/sipas-services-2021.yaml as an example"),
    "unknown_field": (14, "unknown_field.yaml: question 'q_sex': unknown field 'optoins'; did you mean 'options'?"),
    "bad_type": (11, "bad_type.yaml: question 'q_sex': 'type' is 'singel', which is not allowed; use one of: single, "
                     "multi, scale, matrix, yesno, number, text or note"),
    "missing_text": (10, "missing_text.yaml: question 'q_sex': 'text' is missing; add text: …"),
    "bad_number": (12, "bad_number.yaml: question 'q_age': 'min' must be a whole number (got 'eighteen'); "
                       "write a number such as 10"),
    "bad_condition_key": (15, "bad_condition_key.yaml: question 'q_age': relevance: unknown condition key 'equal'; "
                              "did you mean 'equals'?"),
    "bad_condition_shape": (15, "bad_condition_shape.yaml: question 'q_age': relevance: 'equals' needs "
                                "[question id, value]; equals: [q_id, 1]"),
    "option_no_label": (10, "option_no_label.yaml: scale 'sat5': option 2 has no label; add label: {vi: …, en: …}"),
    "dup_question_id": (13, "dup_question_id.yaml: question 'q_consent': id 'q_consent' is already used by an earlier "
                            "question; rename one of them: question and matrix item ids are one answer column each "
                            "and must be unique in the survey"),
    "dup_item_id": (27, "dup_item_id.yaml: matrix item 'q_consent': id 'q_consent' is already used by an earlier "
                        "question; rename one of them: question and matrix item ids are one answer column each and "
                        "must be unique in the survey"),
    "dup_section_id": (13, "dup_section_id.yaml: section 'main': section id 'main' is used twice; "
                           "give every section its own id"),
    "dup_scale_id": (14, "dup_scale_id.yaml: scale 'sat5': scale id 'sat5' is used twice; give every scale its own id"),
    "dup_end_rule_id": (17, "dup_end_rule_id.yaml: end rule 'refused': end rule id 'refused' is used twice; "
                            "give every end rule its own id"),
    "unknown_ref": (15, "unknown_ref.yaml: question 'q_age': relevance refers to 'q_consnet', which does not exist; "
                        "did you mean 'q_consent'?"),
    "forward_ref": (21, "forward_ref.yaml: question 'q9_b2': relevance refers to 'q12' which comes later — conditions "
                        "may only read earlier questions; move the condition or the question"),
    "self_ref": (15, "self_ref.yaml: question 'q_age': relevance refers to 'q_age' itself — conditions may only read "
                     "earlier questions; refer to an earlier question (use a constraint to check the answer itself)"),
    "matrix_ref": (26, "matrix_ref.yaml: question 'q_why': relevance refers to matrix 'q9', which has no answer of its "
                       "own; refer to one of its items, e.g. 'q9_1'"),
    "end_rule_unknown_ref": (15, "end_rule_unknown_ref.yaml: end rule 'under_18': condition refers to 'q_agee', which "
                                 "does not exist; use the id of a question or matrix item"),
    "missing_vi": (12, "missing_vi.yaml: question 'q_sex': text has no Vietnamese text ('vi'); add vi: … to the text "
                       "(Vietnamese with full diacritics)"),
    "missing_en": (15, "missing_en.yaml: question 'q_sex': option 2 label has no 'en' translation; add en: … to the "
                       "option 2 label, or remove 'en' from languages"),
    "undeclared_lang": (12, "undeclared_lang.yaml: question 'q_sex': text is given in 'vn', which is not a declared "
                            "language; fix the language code, or add 'vn' to languages"),
    "scale_no_options": (7, "scale_no_options.yaml: scale 'sat5': scale has no options; list its options, each with a "
                            "value and a label (vi and every declared language)"),
    "unknown_scale": (20, "unknown_scale.yaml: question 'q_overall': uses scale 'sat_5', which is not defined; "
                          "did you mean 'sat5'?"),
    "single_no_options": (10, "single_no_options.yaml: question 'q_sex': single-choice question has no options; "
                              "add options, each with a value and a label"),
    "scale_without_scale": (18, "scale_without_scale.yaml: question 'q_overall': scale question has no scale; "
                                "add scale: <id> (defined scales: sat5)"),
    "matrix_no_items": (18, "matrix_no_items.yaml: question 'q9': matrix question has no items; add items, each with "
                            "an id and a text"),
    "number_min_max": (10, "number_min_max.yaml: question 'q_age': min (120) is greater than max (10); "
                           "swap them or fix one"),
    "multi_min_max": (10, "multi_min_max.yaml: question 'q2': min_picks (3) is greater than max_picks (2); "
                          "swap them or fix one"),
    "multi_max_options": (17, "multi_max_options.yaml: question 'q2': max_picks (5) is more than the 3 options; "
                              "use at most 3, or leave max_picks out"),
    "exclusive_unknown": (17, "exclusive_unknown.yaml: question 'q2': exclusive value(s) 0 are not among the options; "
                              "use option values: 1, 2, 9"),
    "text_max_length": (12, "text_max_length.yaml: question 'q_comment': max_length must be above 0 (is 0); set a "
                            "positive length such as 500, or leave it out"),
    "dup_option_value": (15, "dup_option_value.yaml: question 'q_sex': option value 1 is used twice (options 1 and 2); "
                             "give every option its own value"),
    "satisfied_not_in_scale": (22, "satisfied_not_in_scale.yaml: question 'q_overall': index satisfied value(s) 3 are "
                                   "not in scale 'sat5'; use values of scale 'sat5': 1, 2, 4, 5"),
    "satisfaction_without_scale": (13, "satisfaction_without_scale.yaml: question 'q_ok': satisfaction index item "
                                       "without a scale; ask it on a scale (type: scale or matrix, with scale: sat5) "
                                       "so that 'satisfied' has a meaning, or change the index kind"),
    "equals_not_an_option": (18, "equals_not_an_option.yaml: question 'q_ethnic_other': relevance compares 'q_ethnic' "
                                 "with 3, which is not one of its values (1 Kinh, 2 Khác); use one of: 1, 2"),
    "compare_on_text": (15, "compare_on_text.yaml: question 'q_more': relevance compares 'q_name' (text) as a number — "
                            "lt/le/gt/ge apply only to number, scale, yes/no and matrix answers; use equals/in for "
                            "choices, or answered for text"),
    "constraint_on_note": (13, "constraint_on_note.yaml: question 'n_intro': a note has a constraint, but a note takes "
                               "no answer; remove the constraint, or make it a question that takes an answer"),
    "field_not_for_type": (14, "field_not_for_type.yaml: question 'q_age': 'options' does not apply to a number "
                               "question; remove 'options', or change the type"),
    "unknown_component": (25, "unknown_component.yaml: matrix item 'q9_1': index component 'I.Z' is not listed under "
                              "components; use one of: I.A, or add it to components"),
    "invalid_id": (10, "invalid_id.yaml: question 'câu 1': question id 'câu 1' is not a valid id; use letters, digits "
                       "and _ only, starting with a letter, at most 40 characters (ids become analytics columns and "
                       "button data)"),
}


def test_every_fixture_has_an_expectation() -> None:
    stems = {p.stem for p in BAD.glob("*.yaml")} - {"many_problems"}
    assert stems == set(EXPECTED)


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_bad_definition_fails_with_precise_message(stem: str) -> None:
    line, message = EXPECTED[stem]
    with pytest.raises(DefinitionError) as info:
        load_survey(BAD / f"{stem}.yaml")
    err = info.value
    assert [str(p) for p in err.problems] == [message]
    assert str(err) == message  # one problem: one readable line
    assert err.problems[0].line == line
    assert err.file == f"{stem}.yaml"


def test_error_attributes_name_question_problem_and_fix() -> None:
    with pytest.raises(DefinitionError) as info:
        load_survey(BAD / "forward_ref.yaml")
    err = info.value
    assert err.question_id == "q9_b2"
    assert err.where == "question 'q9_b2'"
    assert err.problem == "relevance refers to 'q12' which comes later — conditions may only read earlier questions"
    assert err.fix == "move the condition or the question"


def test_all_problems_are_reported_in_file_order() -> None:
    with pytest.raises(DefinitionError) as info:
        load_survey(BAD / "many_problems.yaml")
    lines = str(info.value).splitlines()
    assert lines == [
        "many_problems.yaml: question 'q1': uses scale 'sat6', which is not defined; did you mean 'sat5'?",
        "many_problems.yaml: question 'q1': text has no 'en' translation; add en: … to the text, or remove 'en' "
        "from languages",
        "many_problems.yaml: question 'q2': min (5) is greater than max (1); swap them or fix one",
        "many_problems.yaml: question 'q2': relevance refers to 'q3', which does not exist; use the id of a question "
        "or matrix item",
        "many_problems.yaml: question 'q1': id 'q1' is already used by an earlier question; rename one of them: "
        "question and matrix item ids are one answer column each and must be unique in the survey",
    ]
    assert [p.line for p in info.value.problems] == sorted(p.line for p in info.value.problems)


def test_missing_file_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as info:
        load_survey(tmp_path / "nope.yaml")
    assert str(info.value) == f"nope.yaml: file not found: {tmp_path / 'nope.yaml'}; check the path"


def test_non_utf8_file_is_a_definition_error(tmp_path: Path) -> None:
    p = tmp_path / "latin1.yaml"
    p.write_bytes("title: Thử".encode("utf-16"))
    with pytest.raises(DefinitionError) as info:
        load_survey(p)
    assert info.value.problem.startswith("the file is not UTF-8 text")
    assert info.value.fix == "save it as UTF-8"


MINI = """id: mini
version: "1"
languages: [vi, en]
title: {vi: "Thử", en: "Test"}
sections:
  - id: main
    title: {vi: "Chính", en: "Main"}
    questions:
      - id: q_ok
        type: single
        text: {vi: "Được không?", en: "OK?"}
        options:
          - {value: 1, label: {vi: "Có", en: Yes}}
          - {value: 0, label: {vi: "Không", en: No}}
          - {value: 2, label: {vi: "Bật", en: on}}
"""


def test_yes_no_on_are_text_not_booleans() -> None:
    """YAML 1.1 would turn `en: No` into False; a questionnaire means the word."""
    survey = parse_survey(MINI, "mini.yaml")
    labels = [o.label["en"] for o in survey.question_by_id["q_ok"].options or []]
    assert labels == ["Yes", "No", "on"]


def test_condition_in_wrong_place_names_the_nested_path() -> None:
    text = MINI + """      - id: q_next
        type: yesno
        relevant: {all: [{equals: [q_ok, 1]}, {answerd: q_ok}]}
        text: {vi: "Tiếp?", en: "Next?"}
"""
    with pytest.raises(DefinitionError) as info:
        parse_survey(text, "mini.yaml")
    assert str(info.value) == ("mini.yaml: question 'q_next': relevance: all[1] unknown condition key 'answerd'; "
                               "did you mean 'answered'?")


def test_item_relevance_may_read_earlier_items_but_not_later_ones() -> None:
    base = MINI.replace("sections:", """scales:
  - id: sat5
    satisfied: [4, 5]
    options:
      - {value: 1, label: {vi: "Không", en: "No"}}
      - {value: 4, label: {vi: "Hài lòng", en: "Satisfied"}}
      - {value: 5, label: {vi: "Rất hài lòng", en: "Very satisfied"}}
sections:""") + """      - id: q9
        type: matrix
        scale: sat5
        text: {vi: "Hài lòng?", en: "Satisfied?"}
        items:
          - {id: q9_1, text: {vi: "Một", en: "One"}}
          - {id: q9_2, text: {vi: "Hai", en: "Two"}, relevant: {in: [q9_1, [4, 5]]}}
          - {id: q9_3, text: {vi: "Ba", en: "Three"}, relevant: {equals: [q9_4, 1]}}
          - {id: q9_4, text: {vi: "Bốn", en: "Four"}}
"""
    with pytest.raises(DefinitionError) as info:
        parse_survey(base, "m.yaml")
    assert [str(p) for p in info.value.problems] == [
        "m.yaml: matrix item 'q9_3': relevance refers to 'q9_4' which comes later — conditions may only read "
        "earlier questions; move the condition or the question"]


def test_end_rules_may_read_any_step() -> None:
    """End rules run after each answer, so reading a later step is fine (it is just not yet true)."""
    text = MINI + """      - id: q_age
        type: number
        text: {vi: "Tuổi?", en: "Age?"}
end_rules:
  - id: young
    when: {all: [{lt: [q_age, 18]}, {equals: [q_ok, 1]}]}
    message: {vi: "Cảm ơn!", en: "Thanks!"}
"""
    survey = parse_survey(text, "mini.yaml")
    assert [r.id for r in survey.end_rules] == ["young"]
