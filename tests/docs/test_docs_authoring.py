"""docs/authoring.md describes every field of the questionnaire schema, and its example is valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from survey_defs import schema
from survey_defs.loader import parse_survey

GUIDE = (Path(__file__).resolve().parents[2] / "docs" / "authoring.md").read_text(encoding="utf-8")

MODELS = [schema.Survey, schema.Scale, schema.Option, schema.Section, schema.Question,
          schema.MatrixItem, schema.IndexRole, schema.EndRule, schema.Compare]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_schema_field_is_documented(model) -> None:
    missing = [name for name, field in model.model_fields.items()
               if f"`{field.alias or name}`" not in GUIDE and f"{field.alias or name}:" not in GUIDE]
    assert not missing, f"{model.__name__}: undocumented fields {missing}"


def test_condition_forms_are_documented() -> None:
    for form in ("equals", "in", "not", "all", "any", "answered", "lt", "le", "gt", "ge"):
        assert f"{{{form}:" in GUIDE or f"`{{{form}:" in GUIDE, form


def test_the_example_is_a_valid_questionnaire() -> None:
    example = re.search(r"```yaml\n(.*?)```", GUIDE, re.S).group(1)
    survey = parse_survey(example, "docs/authoring.md")
    assert survey.id == "khao-sat-mot-cua" and len(survey.questions) >= 8
