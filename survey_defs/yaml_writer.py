"""A :class:`~survey_defs.schema.Survey` written as a YAML definition file a person can read.

Used when a questionnaire comes from elsewhere (an XLSForm import) and must become a file in
``survey_defs/``. Defaults are left out (as a person writes them), short mappings such as texts,
conditions and index roles stay on one line like the shipped files, and the text is checked to
load back to the very same definition (same content hash) before anyone gets it.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from survey_defs.errors import DefinitionError, Problem
from survey_defs.loader import parse_survey
from survey_defs.schema import Survey

#: A mapping whose one-line form is at most this long is written on one line.
FLOW_WIDTH = 100


# The order of the shipped files: what the survey is, its index vocabulary, then its content.
_TOP_ORDER = ("id", "version", "languages", "title", "description", "pillars", "components", "messages", "scales",
              "sections", "end_rules")


class _Flow(dict):
    pass


class _FlowList(list):
    pass


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v.items(), flow_style=True))
_Dumper.add_representer(_FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def _shape(value: Any) -> Any:
    """Integral floats as ints (comparison bounds: 18 not 18.0), short things on one line."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        inner = {k: _shape(v) for k, v in value.items()}
        one_line = len(json.dumps(inner, ensure_ascii=False)) <= FLOW_WIDTH
        return _Flow(inner) if one_line else inner
    if isinstance(value, list):
        items = [_shape(v) for v in value]
        if all(not isinstance(v, (dict, list)) for v in items):
            return _FlowList(items)
        if len(json.dumps(items, ensure_ascii=False)) <= FLOW_WIDTH and all(isinstance(v, _Flow) for v in items):
            return _FlowList(items)
        return items
    return value


def survey_to_yaml(survey: Survey, comment: str = "") -> str:
    """YAML text that :func:`survey_defs.loader.parse_survey` reads back to ``survey`` exactly.

    ``comment`` (one or more lines) is written at the top as ``#`` comments.
    """
    dumped = survey.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data = {k: dumped[k] for k in _TOP_ORDER if k in dumped} | {k: v for k, v in dumped.items() if k not in _TOP_ORDER}
    body = yaml.dump(_shape(data), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1 << 16,
                     default_flow_style=False)
    head = "".join(f"# {line}".rstrip() + "\n" for line in comment.splitlines()) if comment else ""
    text = head + body
    back = parse_survey(text, f"{survey.id}.yaml")
    if back.content_hash != survey.content_hash:  # pragma: no cover - a bug in this writer, never the input
        raise DefinitionError([Problem(f"{survey.id}.yaml", "", "the written YAML does not read back to the same "
                                       "definition", "report this as a bug in survey_defs/yaml_writer.py")])
    return text
