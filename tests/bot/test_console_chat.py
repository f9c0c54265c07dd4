"""Console channel (bot/console.py, `hailong chat`), interactive-free: piped lines and subprocesses."""

from __future__ import annotations

import io
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from bot.console import ConsoleChannel, chat, render_reply, scripted_lines
from engine.types import Option, Reply
from survey_defs.loader import get_survey, load_survey

ROOT = Path(__file__).resolve().parents[2]
MINI = Path(__file__).parents[1] / "transcripts" / "surveys" / "mini.yaml"
HAILONG = ROOT / ".venv" / "bin" / "hailong"


def run_chat(lines: list[str], **kw) -> tuple[int, str]:
    buf = io.StringIO()
    code = chat(stdin=io.StringIO("".join(x + "\n" for x in lines)), console=Console(file=buf, width=120), **kw)
    return code, buf.getvalue()


MINI_LINES = ["có", "1", "40", "2", "Thái", "4", "bỏ qua", "1 4", "xong", "có", "4", "hai long", "5",
              "không", "Cảm ơn", "gửi"]


def test_piped_answers_complete_and_print_table() -> None:
    code, out = run_chat(MINI_LINES, file=MINI)
    assert code == 0
    assert "Câu 1/" in out and "  1. Có" in out and "[x] 1. Loa phường, xã" in out
    assert "Câu trả lời đã thu" in out and "ethnic_other" in out and "Thái" in out
    assert "Loa phường, xã; Internet" in out and "status: submitted (complete)" in out


def test_input_ending_early_exits_2(capsys) -> None:
    code, out = run_chat(MINI_LINES[:5], file=MINI)
    assert code == 2
    assert "status: active" in out
    assert "Input ended before the survey was finished" in capsys.readouterr().err


def test_screened_out_exits_0() -> None:
    code, out = run_chat(["có", "có", "16", "có"], file=MINI)   # "16" is asked back once, then confirmed
    assert "trả lời «16»" in out and "18 tuổi" in out and "status: ended (ineligible)" in out


def test_multi_choice_in_the_console_is_worded_for_typing() -> None:
    code, out = run_chat(["có", "có", "45", "1", "3", "bỏ qua", "1 2 xong"], file=MINI)
    assert "gõ «xong»" in out and "bấm «Xong»" not in out


def test_english_console() -> None:
    code, out = run_chat(["no"], file=MINI, lang="en")   # a refusal ends at once, not asked back
    assert code == 0 and "Do you agree to take part?" in out and "Thank you. Goodbye!" in out
    assert "the survey ends here" not in out


def test_render_reply_numbers_and_ticks() -> None:
    r = Reply("question", "Q?", "s", options=(Option(1, "A", True), Option(2, "B")), multi=True)
    assert render_reply(r).plain == "Q?\n  [x] 1. A\n  [ ] 2. B"
    r = Reply("question", "Q?", "s", options=(Option(1, "A"), Option(2, "B", True)))
    assert render_reply(r).plain == "Q?\n  1. A\n  2. B ✓"


def test_channel_feed_stops_when_finished() -> None:
    survey = load_survey(MINI)
    ch = ConsoleChannel(survey=survey, console=Console(file=io.StringIO()))
    assert ch.feed(["không", "4", "4"]) is True
    assert ch.state.status == "ended" and ch.state.answers == {"consent": 0}


def test_scripted_lines_submit_both_shipped_surveys() -> None:
    for sid in ("sipas-households", "sipas-services-2021"):
        survey = get_survey(sid)
        ch = ConsoleChannel(survey=survey, console=Console(file=io.StringIO()))
        assert ch.feed(scripted_lines(survey, seed=11)) and ch.state.status == "submitted"


def _hailong(args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    exe = [str(HAILONG)] if HAILONG.exists() else [sys.executable, "-m", "hailong.cli"]
    return subprocess.run(exe + args, input=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_hailong_chat_piped_households_subprocess() -> None:
    lines = scripted_lines(get_survey("sipas-households"), seed=3)
    p = _hailong(["chat", "--survey", "sipas-households"], "\n".join(lines) + "\n")
    assert p.returncode == 0, p.stderr
    assert "status: submitted (complete)" in p.stdout and "Traceback" not in p.stderr


def test_hailong_chat_piped_services_2021_subprocess() -> None:
    # the exact check of the issue: printf '…' | hailong chat --survey sipas-services-2021
    lines = scripted_lines(get_survey("sipas-services-2021"), seed=5, change_mind=False, style="numbers")
    assert all("%" not in x and "\\" not in x and "'" not in x for x in lines)
    fmt = "\\n".join(lines) + "\\n"
    cmd = f"printf '{fmt}' | {shlex.quote(str(HAILONG))} chat --survey sipas-services-2021"
    p = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert "status: submitted (complete)" in p.stdout and "c1_1" in p.stdout


def test_unknown_survey_is_a_clear_error() -> None:
    p = _hailong(["chat", "--survey", "nope"], "")
    assert p.returncode == 1
    assert "Không có phiếu khảo sát «nope»" in p.stdout + p.stderr and "Traceback" not in p.stderr


def test_incomplete_subprocess_exits_2() -> None:
    p = _hailong(["chat", "--file", str(MINI)], "có\n")
    assert p.returncode == 2 and "Input ended" in p.stderr
