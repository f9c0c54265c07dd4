"""``python -m bot.demo`` (what ``make demo`` runs): a scripted citizen answers a questionnaire.

The furthest end-to-end path that exists so far: a citizen answers ``sipas-households`` in the
console channel, typing the way people do (numbers, words without tone marks, a change of mind
with "quay lại"), while a rich progress bar follows the engine's "Câu n/N"; then the answers the
channel collected are printed. :func:`run_demo` is the reusable flow (later rounds add invites,
storage and analytics around it); :func:`citizen_answer` / :func:`scripted_lines` give the
scripted citizen to tests and benchmarks.
"""

from __future__ import annotations

import io
import random
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from bot import engine
from bot.console import ConsoleChannel, answers_table
from bot.engine_types import Reply, Start, State, StepResult, TypedText
from survey_defs.schema import Survey

__all__ = ["citizen_answer", "scripted_lines", "run_demo", "main"]

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


def run_demo(survey_id: str = "sipas-households", console: Console | None = None, seed: int = 7,
             show_first: int = 6) -> State:
    """Play a scripted citizen through the console channel; print a progress bar and the answers.

    The first ``show_first`` exchanges are printed as the citizen sees them; the rest run behind
    the progress bar, then the closing messages and the collected answers are printed.
    """
    from survey_defs.loader import get_survey

    out = console or Console(highlight=False)
    survey = get_survey(survey_id)
    lines = scripted_lines(survey, seed)
    out.rule(f"[bold]hailong demo[/bold] · {survey.title.get('vi', survey.id)}")
    out.print(f"Người dân (kịch bản) trả lời {len(lines)} tin nhắn trên kênh console.\n")
    quiet = Console(file=io.StringIO(), highlight=False, width=out.width)
    shown = Console(file=out.file, highlight=False, width=out.width, force_terminal=out.is_terminal)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        console=out, transient=False)
    task = progress.add_task("Câu", total=1)
    last: list[StepResult] = []

    def watch(r: StepResult) -> None:
        last.append(r)
        for reply in r.replies:
            if reply.progress is not None:
                n, total = reply.progress
                progress.update(task, completed=n - 1, total=total)

    ch = ConsoleChannel(survey=survey, console=shown, echo=True, clock=_clock(), on_result=watch)
    it: Iterator[str] = iter(lines)
    ch.start()
    for _ in range(show_first):
        line = next(it, None)
        if line is None:
            break
        ch.feed([line])
    ch.console = quiet
    with progress:
        for line in it:
            ch.feed([line])
        total = progress.tasks[0].total or 1
        progress.update(task, completed=total)
    ch.console = shown
    closing = last[-1].replies if last else ()
    from bot.console import render_reply

    for reply in closing:
        shown.print(render_reply(reply))
    out.print(answers_table(survey, ch.state))
    out.print(f"Trạng thái / status: [bold]{ch.state.status}[/bold] ({ch.state.outcome}); "
              f"{len(ch.state.answers)} câu trả lời / answers.")
    return ch.state


def _clock() -> "callable":  # type: ignore[valid-type]
    """A deterministic clock: the scripted citizen answers one message every 4 seconds."""
    t = [1_700_000_000.0]

    def now() -> float:
        t[0] += 4.0
        return t[0]
    return now


def main() -> int:
    state = run_demo()
    return 0 if state.status == "submitted" else 1


if __name__ == "__main__":
    raise SystemExit(main())
