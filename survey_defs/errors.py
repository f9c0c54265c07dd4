"""Errors in a survey definition, worded for the person who edits the YAML file.

Every problem names the file, where in the file (a question id, a matrix item id, a section,
or a path such as ``sections[2].questions[0].type`` and, when known, a line), what is wrong and
how to fix it. A definition is checked completely and *all* problems are reported at once, so
that an author fixes a file in one pass instead of one error per run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a definition file.

    ``where`` is human wording ("question 'q9_b2'", "line 12", "scale 'sat5'");
    ``item_id`` is the bare id of the question / item / section / scale / end rule concerned
    (None for file-level problems); ``line`` is 1-based when the YAML position is known.
    For a workbook (an XLSForm), ``sheet`` names the sheet, ``line`` is the 1-based row and
    ``column`` the column letter ("H"), so that a test or a tool can point at the cell.
    """

    file: str
    where: str
    problem: str
    fix: str = ""
    item_id: str | None = None
    line: int | None = None
    sheet: str | None = None
    column: str | None = None

    def __str__(self) -> str:
        head = f"{self.file}: {self.where}: " if self.where else f"{self.file}: "
        return head + self.problem + (f"; {self.fix}" if self.fix else "")


class DefinitionError(Exception):
    """A survey definition that cannot be used: YAML syntax, schema or cross-reference problems.

    ``problems`` lists every problem found (at least one). The attributes ``file``,
    ``question_id``, ``problem`` and ``fix`` describe the first one, for callers that only show
    one. ``str()`` is one readable line per problem (a single line when there is one problem).
    """

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("DefinitionError needs at least one problem")
        self.problems: list[Problem] = list(problems)
        first = self.problems[0]
        self.file: str = first.file
        self.question_id: str | None = first.item_id
        self.where: str = first.where
        self.problem: str = first.problem
        self.fix: str = first.fix
        self.line: int | None = first.line
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class UnknownSurveyError(LookupError):
    """``get_survey`` was asked for an id that no shipped questionnaire has."""

    def __init__(self, survey_id: str, known: list[str]) -> None:
        self.survey_id = survey_id
        self.known = known
        super().__init__(survey_id)

    def __str__(self) -> str:
        return (f"không có bảng hỏi '{self.survey_id}' / no shipped questionnaire '{self.survey_id}'; "
                f"available: {', '.join(self.known) or '(none)'}")
