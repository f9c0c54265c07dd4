"""`hailong survey validate|show|list` through the real entry point (hailong.cli.app)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hailong.cli import app
from survey_defs.loader import get_survey, shipped_paths

BAD = Path(__file__).parents[1] / "fixtures" / "bad_defs"
runner = CliRunner()


def test_validate_shipped_files_exits_0_with_counts_and_hash() -> None:
    result = runner.invoke(app, ["survey", "validate", *map(str, shipped_paths())])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.count("OK") == 2
    h = get_survey("sipas-households")
    assert h.content_hash[:12] in out
    assert get_survey("sipas-services-2021").content_hash[:12] in out
    row = next(line for line in out.splitlines() if "sipas-households.yaml" in line)
    assert "│ 8 " in row and "│ 91 " in row and "│ 39 " in row


def test_validate_bad_file_exits_1_with_the_message() -> None:
    result = runner.invoke(app, ["survey", "validate", str(shipped_paths()[1]), str(BAD / "forward_ref.yaml")])
    assert result.exit_code == 1
    assert ("forward_ref.yaml: question 'q9_b2': relevance refers to 'q12' which comes later — conditions may only "
            "read earlier questions; move the condition or the question") in result.output
    assert "OK" in result.output  # the good file is still reported
    assert "Traceback" not in result.output


def test_validate_reports_every_problem_of_every_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["survey", "validate", str(BAD / "many_problems.yaml"), str(BAD / "yaml_syntax.yaml"),
                                 str(tmp_path / "missing.yaml")])
    assert result.exit_code == 1
    out = result.output
    assert sum(line.startswith("many_problems.yaml: ") for line in out.splitlines()) == 5
    assert "yaml_syntax.yaml: line 16: YAML syntax error" in out
    assert "missing.yaml: file not found" in out


def test_show_prints_outline_with_relevance_in_words_and_index_roles() -> None:
    result = runner.invoke(app, ["survey", "show", "sipas-households"])
    assert result.exit_code == 0, result.output
    out = result.output
    for expected in ("q9_ii_e", "q8_complaint = Có", "q_ethnic = Khác", "satisfaction · services · II.E",
                     "matrix (sat5)", "number 10–120", "q_age < 18", "refused"):
        assert expected in out, expected
    en = runner.invoke(app, ["survey", "show", str(shipped_paths()[1]), "--lang", "en"])
    assert en.exit_code == 0, en.output
    assert "q_feedback = Yes" in en.output
    assert "Overall, how satisfied" in en.output


def test_show_unknown_id_and_bad_file_fail_cleanly() -> None:
    result = runner.invoke(app, ["survey", "show", "no-such-survey"])
    assert result.exit_code == 1
    assert "no shipped questionnaire 'no-such-survey'" in result.output
    bad = runner.invoke(app, ["survey", "show", str(BAD / "unknown_ref.yaml")])
    assert bad.exit_code == 1
    assert "did you mean 'q_consent'?" in bad.output
    assert "Traceback" not in bad.output + result.output


def test_list_shows_shipped_surveys() -> None:
    result = runner.invoke(app, ["survey", "list"])
    assert result.exit_code == 0, result.output
    assert "sipas-households" in result.output and "sipas-services-2021" in result.output
