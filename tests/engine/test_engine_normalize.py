"""Typed-text understanding (engine/normalize.py): folding and typed commands in vi and en."""

from __future__ import annotations

import pytest

from engine.types import Command, Start, TypedText
from engine.normalize import answer_key, clean_text, fold, parse_typed


@pytest.mark.parametrize("text", ["Hài lòng", "hai long", "HAI LONG", "Hài Lòng", "  hài   lòng ",
                                  "Ha\u0300i lo\u0300ng"])
def test_fold_forms_of_hai_long(text: str) -> None:
    assert fold(text) == "hai long"


def test_fold_d_and_fullwidth_digits() -> None:
    assert fold("Đúng ĐƯỜNG") == "dung duong"
    assert answer_key("４.") == "4"
    assert answer_key("hài lòng!!") == "hai long"
    assert fold("x" * 10_000) == "x" * 10_000


@pytest.mark.parametrize("text,cmd", [
    ("quay lại", Command("back")), ("Quay Lai", Command("back")), ("/back", Command("back")),
    ("back", Command("back")), ("tạm dừng", Command("pause")), ("/pause", Command("pause")),
    ("tiếp tục", Command("resume")), ("/continue", Command("resume")), ("trợ giúp", Command("help")),
    ("/help", Command("help")), ("?", Command("help")), ("dừng", Command("stop")), ("DỪNG!", Command("stop")),
    ("/stop", Command("stop")), ("/lang en", Command("lang", "en")), ("/lang", Command("lang")),
    ("/en", Command("lang", "en")), ("tiếng Việt", Command("lang", "vi")), ("bỏ qua", Command("skip")),
    ("/skip", Command("skip")), ("xem lại", Command("review")), ("gửi", Command("submit")),
    ("sửa 12", Command("edit", "12")), ("edit q_age", Command("edit", "q_age")), ("/edit 3", Command("edit", "3")),
    ("/back@HailongBot", Command("back")),
])
def test_typed_commands(text: str, cmd: Command) -> None:
    assert parse_typed(text) == cmd


def test_start_and_plain_text() -> None:
    assert parse_typed("/start") == Start()
    assert parse_typed("/start abc123") == Start()
    for text in ["4", "hài lòng", "đúng", "dung", "/unknown", "🙂", "x" * 10_000]:
        assert parse_typed(text) == TypedText(text)


def test_free_text_steps_only_take_slash_commands() -> None:
    assert parse_typed("quay lại", free_text=True) == TypedText("quay lại")
    assert parse_typed("dừng", free_text=True) == TypedText("dừng")
    assert parse_typed("/back", free_text=True) == Command("back")
    # a skip word alone skips the optional comment box (the hint tells Zalo and console users so)
    for word in ("bỏ qua", "Bỏ qua", " bo qua ", "BỎ QUA", "skip"):
        assert parse_typed(word, free_text=True) == Command("skip"), word
    for comment in ("bỏ qua thủ tục rườm rà", "không bỏ qua", "skip the queue please"):
        assert parse_typed(comment, free_text=True) == TypedText(comment), comment


def test_clean_text() -> None:
    assert clean_text("  Ý kiến\u200b\x00 tốt  ") == "Ý kiến tốt"
    assert clean_text("Y\u0301") == "Ý"
