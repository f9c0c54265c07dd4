"""``hailong survey …``: check questionnaire files, print their outline, move them to and from Excel.

Staff edit questionnaires as YAML before a round; ``validate`` tells them, file by file, either
"OK" with the figures that identify the version (sections, steps, satisfaction items, content
hash) or every problem with its line and fix. ``show`` prints the outline a reviewer signs off:
sections, questions, types, when each is asked, and what feeds the index.

Officers who write questionnaires in Excel use XLSForm: ``import`` turns a workbook into a
checked YAML file (or lists every problem with its sheet, row and column), ``export`` writes a
questionnaire as a workbook to edit and import back (``survey_defs/xlsform/``).
"""

from __future__ import annotations

import os
import tempfile
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from survey_defs.describe import describe_condition, describe_role
from survey_defs.errors import DefinitionError, UnknownSurveyError
from survey_defs.loader import get_survey, load_survey, shipped_ids
from survey_defs.schema import QuestionType, Survey
from survey_defs.validate import survey_counts
from survey_defs.xlsform.exporter import export_xlsform
from survey_defs.xlsform.importer import import_xlsform
from survey_defs.yaml_writer import survey_to_yaml

app = typer.Typer(
    name="survey",
    help="Bảng hỏi: kiểm tra, xem, nhập/xuất Excel / questionnaires: validate, show, import/export Excel.",
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


def _print_problems(console: Console, exc: DefinitionError, title: str) -> None:
    console.print(f"[red]{title} ({len(exc.problems)}):[/red]")
    for p in exc.problems:
        # One unwrapped line per problem: greppable, pasteable.
        console.print(str(p), markup=False, highlight=False, soft_wrap=True)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write next to the target and rename, so that a failed write never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@app.command("import")
def import_cmd(file: Path = typer.Argument(..., help="XLSForm .xlsx", show_default=False),
               out: Path = typer.Option(..., "--out", help="YAML to write, e.g. survey_defs/NAME.yaml")) -> None:
    """Nhập bảng hỏi từ Excel (XLSForm) / import a questionnaire from an XLSForm workbook."""
    console = _console()
    if out.suffix.lower() not in (".yaml", ".yml"):
        console.print("[red]tệp ra phải là .yaml / --out must be a .yaml file[/red]")
        raise typer.Exit(1)
    try:
        result = import_xlsform(file)
    except DefinitionError as exc:
        _print_problems(console, exc, "Bảng hỏi Excel có lỗi / the workbook has problems")
        raise typer.Exit(1) from None
    survey = result.survey
    for w in result.warnings:
        console.print(f"lưu ý / note: {w}", markup=False, highlight=False, soft_wrap=True)
    previous = None
    if out.exists():
        try:
            previous = load_survey(out)
        except DefinitionError:
            previous = None
    text = survey_to_yaml(survey, f"Imported from {file.name} by `hailong survey import`.\n"
                                  "To change it, edit the workbook and import it again (or edit this file).")
    _write_atomically(out, text.encode("utf-8"))
    c = survey_counts(survey)
    state = "" if previous is None else (" (không đổi / unchanged)" if previous.content_hash == survey.content_hash
                                         else " (đã thay / replaced)")
    console.print(f"[green]OK[/green] {out}{state}: {survey.id} {survey.version} · sections {c['sections']} · "
                  f"steps {c['steps']} · satisfaction {c['satisfaction']} · hash {survey.content_hash[:HASH_PREFIX]}",
                  highlight=False, soft_wrap=True)
    if out.stem != survey.id:
        console.print(f"lưu ý / note: the file name '{out.name}' differs from the survey id '{survey.id}'",
                      markup=False, highlight=False, soft_wrap=True)


class ExportFormat(str, Enum):
    xlsform = "xlsform"


@app.command("export")
def export_cmd(id_or_path: str = typer.Argument(..., help="survey id or YAML path / mã bảng hỏi hoặc tệp"),
               fmt: ExportFormat = typer.Option(ExportFormat.xlsform, "--format", help="xlsform"),
               out: Path = typer.Option(..., "--out", help="workbook to write (.xlsx)")) -> None:
    """Xuất bảng hỏi ra Excel (XLSForm) / export a questionnaire as an XLSForm workbook."""
    console = _console()
    if out.suffix.lower() != ".xlsx":
        console.print("[red]tệp ra phải là .xlsx / --out must be an .xlsx file[/red]")
        raise typer.Exit(1)
    try:
        survey = _resolve(id_or_path)
        data = export_xlsform(survey)
    except UnknownSurveyError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(1) from None
    except DefinitionError as exc:
        _print_problems(console, exc, "Không xuất được / cannot export")
        raise typer.Exit(1) from None
    _write_atomically(out, data)
    console.print(f"[green]OK[/green] {out}: {survey.id} {survey.version} ({fmt.value}) · "
                  f"hash {survey.content_hash[:HASH_PREFIX]}", highlight=False, soft_wrap=True)
