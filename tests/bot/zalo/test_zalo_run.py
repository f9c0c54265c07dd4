"""``hailong run --channel zalo`` as a subprocess: a rejected token or an unreachable Zalo Bot API
ends the process within seconds with one bilingual line and an exit code systemd can act on."""

from __future__ import annotations

from pathlib import Path

from demo.emulators.zalo import ZaloEmulator
from support.processes import EXITS_BY_ITSELF_S, free_port, one_bilingual_line, run_to_exit


async def test_a_rejected_zalo_token_exits_at_once_with_one_line(tmp_path: Path) -> None:
    async with ZaloEmulator(token="777:the-right-zalo-token") as emu:
        code, text, took = await run_to_exit(
            tmp_path, "--channel", "zalo", "--db", str(tmp_path / "h.db"),
            HAILONG_ZALO_TOKEN="777:WRONG-zalo-token", HAILONG_ZALO_BASE_URL=emu.base_url)
    line = one_bilingual_line(text)
    assert code == 2 and took < EXITS_BY_ITSELF_S, (code, took)
    assert "từ chối token" in line and "rejected the bot token" in line and "HAILONG_ZALO_TOKEN" in line
    assert "WRONG-zalo" not in line


async def test_an_unreachable_zalo_api_exits_as_temporary(tmp_path: Path) -> None:
    port = free_port()
    code, text, took = await run_to_exit(
        tmp_path, "--channel", "zalo", "--db", str(tmp_path / "h.db"),
        HAILONG_ZALO_TOKEN="777:SECRET-zalo-token", HAILONG_ZALO_BASE_URL=f"http://127.0.0.1:{port}")
    line = one_bilingual_line(text)
    assert code == 75 and took < EXITS_BY_ITSELF_S, (code, took)
    assert "không kết nối được" in line and "cannot reach the Zalo Bot API" in line
    assert f"127.0.0.1:{port}" in line and "SECRET-zalo" not in line


async def test_both_channels_stop_cleanly_when_one_cannot_start(tmp_path: Path) -> None:
    """Telegram starts, Zalo's token is refused: the started channel is stopped and the process
    exits with Zalo's line (it used to hang with an UnboundLocalError)."""
    from demo.emulators.telegram import TelegramEmulator

    async with TelegramEmulator() as tg, ZaloEmulator(token="777:the-right-zalo-token") as zl:
        code, text, took = await run_to_exit(
            tmp_path, "--channel", "telegram", "--channel", "zalo", "--db", str(tmp_path / "h.db"),
            "--log-level", "WARNING", HAILONG_TELEGRAM_TOKEN=tg.token, HAILONG_TELEGRAM_BASE_URL=tg.base_url,
            HAILONG_TELEGRAM_POLL_TIMEOUT="1", HAILONG_ZALO_TOKEN="777:WRONG", HAILONG_ZALO_BASE_URL=zl.base_url)
    line = one_bilingual_line(text)
    assert code == 2 and took < EXITS_BY_ITSELF_S and "HAILONG_ZALO_TOKEN" in line
