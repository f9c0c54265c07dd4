"""``hailong survey …``: check questionnaire files and print their outline.

Staff edit questionnaires as YAML before a round; ``validate`` tells them, file by file, either
"OK" with the figures that identify the version (sections, steps, satisfaction items, content
hash) or every problem with its line and fix. ``show`` prints the outline a reviewer signs off:
sections, questions, types, when each is asked, and what feeds the index.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from survey_defs.describe import describe_condition, describe_role
from survey_defs.errors import DefinitionError, UnknownSurveyError
from survey_defs.loader import get_survey, load_survey, shipped_ids
from survey_defs.schema import QuestionType, Survey
from survey_defs.validate import survey_counts

app = typer.Typer(
    name="survey",
    help="Bảng hỏi: kiểm tra và xem / questionnaires: validate and show.",
    no_args_is_help=True,
)

HASH_PREFIX = 12


def _console() -> Console:
    # Wide enough that messages are not cut when output is piped (CI logs, tests).
    return Console(width=160, soft_wrap=False)


@app.command("validate")
def validate(files: list[Path] = typer.Argument(..., help="YAML files / tệp YAML", show_default=False)) -> None:
    """Kiểm tra tệp bảng hỏi / validate questionnaire files (exit 1 if any fails)."""
    console = _console()
    summary = Table(title="Kiểm tra bảng hỏi / questionnaire check")
    for col in ("Tệp / file", "Kết quả / result", "id", "sections", "steps", "satisfaction", "hash"):
        summary.add_column(col)
    failed: list[tuple[Path, DefinitionError]] = []
    for path in files:
        try:
            survey = load_survey(path)
        except DefinitionError as exc:
            failed.append((path, exc))
            summary.add_row(str(path), f"[red]LỖI / ERROR ({len(exc.problems)})[/red]", "", "", "", "", "")
            continue
        c = survey_counts(survey)
        summary.add_row(str(path), "[green]OK[/green]", f"{survey.id} {survey.version}", str(c["sections"]),
                        str(c["steps"]), str(c["satisfaction"]), survey.content_hash[:HASH_PREFIX])
    console.print(summary)
    for path, exc in failed:
        console.rule(f"{path}: {len(exc.problems)} lỗi / problem(s)", style="red")
        for p in exc.problems:
            # One plain line per problem (file: where: problem; fix): greppable, pasteable.
            console.print(str(p), markup=False, highlight=False)
    if failed:
        raise typer.Exit(1)


def _resolve(id_or_path: str) -> Survey:
    p = Path(id_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return load_survey(p)
    return get_survey(id_or_path)


@app.command("show")
def show(id_or_path: str = typer.Argument(..., help="survey id or YAML path / mã bảng hỏi hoặc tệp"),
         lang: str = typer.Option("vi", "--lang", help="vi | en")) -> None:
    """Xem dàn ý bảng hỏi / print a questionnaire's outline."""
    console = _console()
    try:
        survey = _resolve(id_or_path)
    except UnknownSurveyError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(1) from None
    except DefinitionError as exc:
        console.print(f"[red]Bảng hỏi có lỗi / the questionnaire has problems ({len(exc.problems)}):[/red]")
        for p in exc.problems:
            console.print(str(p), markup=False, highlight=False)
        raise typer.Exit(1) from None
    if lang not in survey.languages:
        console.print(f"[red]ngôn ngữ '{lang}' không có / language '{lang}' not in {survey.languages}[/red]")
        raise typer.Exit(1)

    def t(text: dict[str, str] | None) -> str:
        if not text:
            return ""
        return text.get(lang) or text.get("vi", "")

    c = survey_counts(survey)
    console.print(f"[bold]{survey.id}[/bold] {survey.version} — {t(survey.title)}", highlight=False)
    console.print(f"languages: {', '.join(survey.languages)} · sections {c['sections']} · steps {c['steps']} · "
                  f"satisfaction {c['satisfaction']} · perception {c['perception']} · "
                  f"expectation {c['expectation']} · hash {survey.content_hash[:HASH_PREFIX]}", highlight=False)
    if survey.scales:
        scales = Table(title="Thang đo / scales")
        for col in ("id", "options", "satisfied"):
            scales.add_column(col, overflow="fold")
        for sc in survey.scales:
            scales.add_row(sc.id, " · ".join(f"{o.value} {t(o.label)}" for o in sc.options),
                           ", ".join(map(str, sc.satisfied)))
        console.print(scales)
    for n, sec in enumerate(survey.sections, 1):
        title = f"{n}. {t(sec.title)} ({sec.id})"
        if sec.relevant is not None:
            title += f" — chỉ hỏi khi / only if {describe_condition(survey, sec.relevant, lang)}"
        table = Table(title=title, title_justify="left")
        for col in ("id", "type", "text", "relevance", "index"):
            table.add_column(col, overflow="fold")
        for q in sec.questions:
            kind = q.type.value + (f" ({q.scale})" if q.scale else "")
            if q.type is QuestionType.number and (q.min is not None or q.max is not None):
                kind += f" {q.min if q.min is not None else ''}–{q.max if q.max is not None else ''}"
            if q.type is QuestionType.multi:
                kind += f" picks {q.min_picks or 0}–{q.max_picks or len(q.options or [])}"
            if not q.required:
                kind += " optional"
            rel = describe_condition(survey, q.relevant, lang) if q.relevant is not None else ""
            text = t(q.text)
            if q.options:
                text += " [" + " · ".join(f"{o.value} {t(o.label)}" for o in q.options) + "]"
            table.add_row(q.id, kind, text, rel, describe_role(q.index))
            for it in q.items or []:
                irel = describe_condition(survey, it.relevant, lang) if it.relevant is not None else ""
                table.add_row(f"  {it.id}", "item", t(it.text), irel, describe_role(it.index))
        console.print(table)
    if survey.end_rules:
        rules = Table(title="Kết thúc sớm / end rules")
        for col in ("id", "when", "outcome", "message"):
            rules.add_column(col, overflow="fold")
        for r in survey.end_rules:
            rules.add_row(r.id, describe_condition(survey, r.when, lang), r.outcome, t(r.message))
        console.print(rules)


@app.command("list")
def list_surveys() -> None:
    """Liệt kê bảng hỏi có sẵn / list the shipped questionnaires."""
    console = _console()
    try:
        ids = shipped_ids()
    except DefinitionError as exc:
        for p in exc.problems:
            console.print(str(p), markup=False, highlight=False)
        raise typer.Exit(1) from None
    table = Table(title="Bảng hỏi có sẵn / shipped questionnaires")
    for col in ("id", "version", "title", "steps", "hash"):
        table.add_column(col)
    for sid in ids:
        s = get_survey(sid)
        table.add_row(s.id, s.version, s.title.get("vi", ""), str(survey_counts(s)["steps"]),
                      s.content_hash[:HASH_PREFIX])
    console.print(table)
