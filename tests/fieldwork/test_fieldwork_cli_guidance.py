"""The staff commands warn before a mistake costs fieldwork: a round opened without a sample, a
round closed with invites still queued, a ``--unit`` that gives no card (and why)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hailong.cli import app


def _run(db: Path, *argv: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*argv, "--db", str(db)])
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.output.split())


def _round(tmp_path: Path, *, sample: bool = True) -> Path:
    db = tmp_path / "g.db"
    assert _run(db, "init")[0] == 0
    assert _run(db, "round", "create", "--code", "G1", "--survey", "sipas-households", "--plan", "laichau-2025")[0] == 0
    if sample:
        assert _run(db, "sample", "draw", "--plan", "laichau-2025", "--round", "G1")[0] == 0
    return db


def test_open_without_a_sample_warns_and_names_the_draw(tmp_path: Path) -> None:
    db = _round(tmp_path, sample=False)
    code, out = _run(db, "round", "open", "--code", "G1")
    assert code == 0
    assert "Lưu ý / Warning" in out and "chưa có mẫu" in out and "no sample" in out
    assert "Tiếp theo / Next: hailong sample draw" in out


def test_open_with_a_sample_does_not_warn(tmp_path: Path) -> None:
    code, out = _run(_round(tmp_path), "round", "open", "--code", "G1")
    assert code == 0 and "Warning" not in out and "Tiếp theo / Next: hailong invites make" in out


def test_close_warns_about_queued_invites(tmp_path: Path) -> None:
    db = _round(tmp_path)
    assert _run(db, "round", "open", "--code", "G1")[0] == 0
    code, out = _run(db, "invites", "send", "--round", "G1", "--channel", "telegram", "--enqueue-only",
                     "--bot-username", "hailong_laichau_bot")
    assert code == 0, out
    queued = int(out.split("queued: ")[1].split(" ")[0])
    assert queued > 0      # the shipped frame knows some households on Telegram
    code, out = _run(db, "round", "close", "--code", "G1")
    assert code == 0
    assert f"{queued} thư mời còn trong hàng đợi" in out and f"{queued} invites were still queued" in out, out


def test_close_without_queued_invites_does_not_warn(tmp_path: Path) -> None:
    db = _round(tmp_path)
    assert _run(db, "round", "open", "--code", "G1")[0] == 0
    code, out = _run(db, "round", "close", "--code", "G1")
    assert code == 0 and "Warning" not in out and "Tiếp theo / Next:" in out


def test_cards_for_a_unit_say_why_not(tmp_path: Path) -> None:
    db = _round(tmp_path)
    code, out = _run(db, "invites", "cards", "--round", "G1", "--out", str(tmp_path / "c.pdf"),
                     "--bot-username", "hailong_laichau_bot", "--unit", "NOPE-1")
    assert code == 2 and "NOPE-1: không có trong khung mẫu / not a unit of the frame" in out, out


def test_a_bad_bot_username_is_bilingual_everywhere(tmp_path: Path) -> None:
    db = _round(tmp_path)
    for argv in (["invites", "make", "--round", "G1"], ["invites", "cards", "--round", "G1", "--out", "c.pdf"],
                 ["invites", "send", "--round", "G1", "--enqueue-only"]):
        code, out = _run(db, *argv, "--bot-username", "bad name")
        assert code == 2, (argv, out)
        assert "tên bot Telegram 'bad name' không hợp lệ" in out and "invalid Telegram bot username" in out, out
