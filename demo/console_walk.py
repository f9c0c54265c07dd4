"""``python -m demo --console``: one scripted citizen through the console channel.

Split from :mod:`demo.round` because it shares nothing with the whole-round demo but the command
line: no database, no emulators, just the engine and the console channel, with a progress bar.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from bot.console import ConsoleChannel, answers_table, render_reply, scripted_lines
from engine.types import State, StepResult
from survey_defs.loader import get_survey

__all__ = ["run_demo"]


def run_demo(survey_id: str = "sipas-households", console: Console | None = None, seed: int = 7,
             show_first: int = 6) -> State:
    """Play a scripted citizen through the console channel; print a progress bar and the answers.

    The first ``show_first`` exchanges are printed as the citizen sees them; the rest run behind
    the progress bar, then the closing messages and the collected answers are printed.
    """
    out = console or Console(highlight=False)
    survey = get_survey(survey_id)
    lines = scripted_lines(survey, seed)
    out.rule(f"[bold]python -m demo[/bold] · {survey.title.get('vi', survey.id)}")
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
    for reply in closing:
        shown.print(render_reply(reply))
    out.print(answers_table(survey, ch.state))
    out.print(f"Trạng thái / status: [bold]{ch.state.status}[/bold] ({ch.state.outcome}); "
              f"{len(ch.state.answers)} câu trả lời / answers.")
    return ch.state


def _clock() -> Callable[[], float]:
    """A deterministic clock: the scripted citizen answers one message every 4 seconds."""
    t = [1_700_000_000.0]

    def now() -> float:
        t[0] += 4.0
        return t[0]
    return now
