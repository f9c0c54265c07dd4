"""Console channel: answer a questionnaire in a terminal, interactively or from piped lines.

Staff use ``hailong chat`` to try a questionnaire before a round; scripts pipe answers in, one per
line (``printf 'có\\n45\\n…' | hailong chat --survey sipas-services-2021``). The channel is a thin
adapter like the Telegram and Zalo ones: every line becomes a :class:`TypedText` for the engine
(which understands numbers, words and commands), every reply is printed with its options numbered
as the engine numbers them, and the collected answers are shown as a table at the end.

Exit codes: 0 when the response is finished (submitted, or ended by screening/withdrawal),
2 when the input ends before that, 1 for a bad survey id or file.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, TextIO

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

import engine
from bot.rights import rights_command
from engine.types import Input, Reply, Start, State, StepResult, TypedText
from survey_defs.i18n import text_in
from survey_defs.loader import DefinitionError, UnknownSurveyError, get_survey, load_survey
from survey_defs.schema import Survey

__all__ = ["ConsoleChannel", "answers_table", "render_reply", "register", "chat", "EXIT_INCOMPLETE",
           "citizen_answer", "scripted_lines"]

EXIT_INCOMPLETE = 2
FINISHED = ("submitted", "ended")
_STYLE = {"invalid": "bold yellow", "stale": "yellow", "info": "cyan", "review": "", "thanks": "bold green",
          "ended": "bold magenta", "question": ""}


def render_reply(reply: Reply) -> Text:
    """A reply as terminal text: the message, then numbered options ("[x]" ticks for multiple choice)."""
    out = Text()
    out.append(reply.text, style=_STYLE.get(reply.kind, ""))
    for n, opt in enumerate(reply.options, 1):
        out.append("\n")
        if reply.multi:
            out.append(f"  [{'x' if opt.selected else ' '}] {n}. {opt.label}")
        else:
            mark = " ✓" if opt.selected else ""
            out.append(f"  {n}. {opt.label}{mark}", style="bold" if opt.selected else "")
    return out


def answers_table(survey: Survey, state: State, lang: str | None = None) -> Table:
    """The collected answers (step id, question, answer label) in questionnaire order."""
    lang = lang or state.lang
    c = engine.compile_survey(survey)
    en = lang == "en"
    table = Table(title="Answers" if en else "Câu trả lời đã thu", show_lines=False)
    table.add_column("Step" if en else "Mã câu", style="dim", no_wrap=True)
    table.add_column("Question" if en else "Câu hỏi")
    table.add_column("Answer" if en else "Trả lời", style="bold")
    for sp in c.steps:
        if sp.id not in state.answers:
            continue
        q = (sp.item.text if sp.item is not None else sp.question.text)
        qt = text_in(q, lang)
        if len(qt) > 70:
            qt = qt[:69] + "…"
        table.add_row(sp.id, qt, engine.answer_label(survey, sp.id, state.answers[sp.id], lang))
    return table


@dataclass
class ConsoleChannel:
    """One conversation in a terminal: feed it lines, it prints the bot's replies.

    ``clock`` gives the time passed to the engine (paradata); ``echo`` prints each input line
    (useful when lines are piped, so the transcript reads as a conversation);
    ``on_result`` lets a caller (the demo's progress bar) watch every step.
    """

    survey: Survey
    console: Console
    lang: str = "vi"
    echo: bool = False
    clock: Callable[[], float] = time.time
    on_result: Callable[[StepResult], None] | None = None
    state: State = field(init=False)

    def __post_init__(self) -> None:
        self.state = engine.new_state(self.survey, self.lang)

    @property
    def finished(self) -> bool:
        return self.state.status in FINISHED

    def send(self, inp: Input) -> StepResult:
        r = engine.step(self.survey, self.state, inp, self.clock(), buttons=False)   # typed answers only
        self.state = r.state
        for reply in r.replies:
            self.console.print(render_reply(reply))
            self.console.print()
        if self.on_result is not None:
            self.on_result(r)
        return r

    def start(self) -> StepResult:
        return self.send(Start())

    def feed(self, lines: Iterable[str]) -> bool:
        """Send lines until the response is finished; True if it finished."""
        if self.state.status == "new":
            self.start()
        for line in lines:
            if self.finished:
                break
            text = line.rstrip("\r\n")
            if self.echo:
                self.console.print(Text(f"› {text}", style="dim"))
            if rights_command(text) is not None:   # /dulieu, /xoa: nothing is stored in this channel
                self.console.print(Text("(hailong chat không lưu dữ liệu nào về Ông/Bà / the console stores no "
                                        "data about you)\n"))
                continue
            self.send(TypedText(text))
        return self.finished


# ---------------------------------------------------------------- scripted input
# Lines a cooperative citizen would type, for piping into ``hailong chat``, the benchmark and tests.

_COMMENTS = ["Không có ý kiến gì thêm.", "Mong cán bộ hướng dẫn kỹ hơn.", "Cảm ơn chính quyền địa phương."]
_FOLDED_WORDS = {"Hài lòng": "hai long", "Rất hài lòng": "rat hai long", "Bình thường": "binh thuong"}


def citizen_answer(survey: Survey, reply: Reply, rng: random.Random, style: str = "mixed") -> str:
    """A valid typed answer to the question ``reply`` asks, as a cooperative citizen would type it.

    ``style="mixed"`` varies the form (a number, a label without tone marks); "numbers" types
    option numbers only. Consent, age, representation and literacy are answered so that the
    citizen is eligible, by looking at the question's type and bounds in the definition.
    """
    c = engine.compile_survey(survey)
    sp = c.by_id.get(reply.step_id or "")
    if sp is None:
        return "gửi" if reply.kind == "review" else "tiếp tục"
    q = sp.question
    if sp.type == "yesno":
        return rng.choice(["có", "1", "co"]) if style == "mixed" else "1"
    if sp.type == "number":
        lo = q.min if q.min is not None else 0
        hi = q.max if q.max is not None else lo + 100
        target = 45 if lo <= 45 <= hi else lo + (hi - lo) // 2
        return str(target)
    if sp.type == "text":
        return rng.choice(_COMMENTS)
    if sp.type == "multi":
        allowed = [n for n in range(1, len(sp.values) + 1) if (n - 1) not in sp.exclusive]
        k = max(1, min(sp.max_picks, sp.min_picks or 1, len(allowed)))
        k = rng.randint(k, max(k, min(sp.max_picks, len(allowed), 3)))
        picks = sorted(rng.sample(allowed, k))
        return " ".join(map(str, picks)) + " xong"
    n = len(sp.values)
    if sp.type in ("scale", "matrix") and n == 5:
        pos = rng.choices([2, 3, 4, 5], weights=[1, 2, 5, 3])[0]
    else:
        pos = rng.randint(1, n)
    label = reply.options[pos - 1].label if len(reply.options) >= pos else ""
    if style == "mixed" and label in _FOLDED_WORDS and rng.random() < 0.3:
        return _FOLDED_WORDS[label]
    return str(pos)


def scripted_lines(survey: Survey, seed: int = 7, *, change_mind: bool = True,
                   style: str = "mixed") -> list[str]:
    """Lines that take a fresh response of ``survey`` to submission (played on the engine).

    With ``change_mind`` the citizen goes back once ("quay lại") and answers again, as people do.
    """
    rng = random.Random(seed)
    state = engine.new_state(survey)
    r = engine.step(survey, state, Start(), 0.0)
    lines: list[str] = []
    went_back = not change_mind
    for i in range(10_000):
        state = r.state
        if state.status in ("submitted", "ended"):
            return lines
        last = r.replies[-1]
        if state.status == "review":
            line = "gửi"
        elif not went_back and i > 12 and last.kind == "question" and state.trail:
            line, went_back = "quay lại", True
        else:
            line = citizen_answer(survey, last, rng, style)
        lines.append(line)
        r = engine.step(survey, state, TypedText(line), float(i + 1))
    raise RuntimeError("the scripted citizen did not finish")  # pragma: no cover



def _stdin_lines(interactive: bool, console: Console) -> Iterator[str]:
    if interactive:
        while True:
            try:
                yield console.input("[bold]› [/bold]")
            except EOFError:
                return
    else:
        yield from sys.stdin


def _fail(console: Console, vi: str, en: str, code: int) -> None:
    console.print(Text(f"{vi}\n{en}", style="bold red"))
    raise typer.Exit(code)


def _load(survey_id: str | None, file: Path | None, err: Console) -> Survey:
    try:
        if file is not None:
            return load_survey(file)
        return get_survey(survey_id or "sipas-households")
    except UnknownSurveyError as exc:
        known = ", ".join(getattr(exc, "known", []) or [])
        _fail(err, f"Không có phiếu khảo sát «{survey_id}». Các phiếu có sẵn: {known}",
              f"No survey “{survey_id}”. Available: {known}", 1)
    except DefinitionError as exc:
        _fail(err, f"Tệp phiếu khảo sát có lỗi:\n{exc}", "The survey file has errors (see above).", 1)
    raise AssertionError("unreachable")  # pragma: no cover


def chat(survey_id: str | None = None, lang: str = "vi", file: Path | None = None,
         stdin: TextIO | None = None, console: Console | None = None) -> int:
    """Run one console conversation; returns the exit code (0 finished, 2 input ended early)."""
    out = console or Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    if lang not in ("vi", "en"):
        _fail(err, f"Ngôn ngữ «{lang}» không hỗ trợ; dùng vi hoặc en.", f"Language “{lang}” is not supported; use vi or en.", 1)
    survey = _load(survey_id, file, err)
    stream = stdin if stdin is not None else sys.stdin
    interactive = stdin is None and stream.isatty()
    ch = ConsoleChannel(survey=survey, console=out, lang=lang, echo=not interactive)
    lines: Iterable[str] = _stdin_lines(True, out) if interactive else stream
    try:
        done = ch.feed(lines)
    except KeyboardInterrupt:
        out.print()
        done = False
    if ch.state.answers:
        out.print(answers_table(survey, ch.state))
    out.print(Text(f"status: {ch.state.status}" + (f" ({ch.state.outcome})" if ch.state.outcome else ""),
                   style="dim"))
    if not done:
        err.print(Text("Dữ liệu vào đã hết trước khi hoàn thành phiếu (chưa gửi).\n"
                       "Input ended before the survey was finished (not submitted).", style="bold red"))
        return EXIT_INCOMPLETE
    return 0


def register(app: typer.Typer) -> None:
    """Add ``hailong chat`` to the CLI."""

    @app.command("chat")
    def chat_cmd(
        survey: str = typer.Option("sipas-households", "--survey", "-s",
                                   help="Mã phiếu có sẵn / shipped survey id (sipas-households, sipas-services-2021)."),
        lang: str = typer.Option("vi", "--lang", "-l", help="Ngôn ngữ / language: vi | en."),
        file: Path | None = typer.Option(None, "--file", "-f", help="Tệp YAML phiếu khảo sát / a survey YAML file."),
    ) -> None:
        """Trả lời một phiếu khảo sát trong terminal / answer a questionnaire in the terminal.

        Works interactively or with answers piped on stdin, one per line.
        """
        code = chat(survey_id=survey, lang=lang, file=file)
        raise typer.Exit(code)
