"""The staff commands that need the channels: ``hailong invites send`` (the outbox through the
Telegram or Zalo sender) and ``hailong status`` with the configured claim limits.

Why here and not in ``fieldwork/invites_cli.py``: fieldwork sits below the channels in the pipeline
(docs/architecture.md), so it cannot build a Telegram bot or a Zalo client; the app wires the
fieldwork commands to the channels' senders and to the settings.
"""

from __future__ import annotations

from typing import Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bot.settings import Settings
from fieldwork import cli as fieldwork_cli
from fieldwork.cli_helpers import (ActorOpt, DbOpt, checked_bot_username, console, fmt_time, round_by_code,
                                   unit_names)
from fieldwork.invites_cli import invites_app
from fieldwork.outbox import OutboxSender, enqueue_invites
from storage.audit import audit, default_actor
from storage.claims import ClaimPolicy
from storage.commands import UserError, fail, next_step, run_with_db
from storage.respondents import list_respondents


def configured_claim_policy() -> ClaimPolicy:
    """The claim limits from the settings (environment, .env), or the defaults when those are
    broken: a broken .env must not hide the progress table."""
    try:
        return Settings().claim_policy()
    except ValueError:
        return ClaimPolicy()


def register(app: typer.Typer) -> None:
    """Mount the fieldwork commands with the configured claim limits, plus ``invites send``."""
    fieldwork_cli.register(app, claim_policy=configured_claim_policy)
    invites_app.command("send")(invites_send)


def invites_send(
    round_code: str = typer.Option(..., "--round"),
    channel: str = typer.Option("telegram", "--channel", help="telegram | zalo"),
    enqueue_only: bool = typer.Option(False, "--enqueue-only",
                                      help="Chỉ xếp hàng; bot đang chạy sẽ gửi / only queue; the running bot sends"),
    bot_username: Optional[str] = typer.Option(None, "--bot-username", help="Tên bot (mặc định: hỏi getMe)"),
    unit: Optional[list[str]] = typer.Option(None, "--unit", help="Mã đơn vị (lặp được) / unit code (repeatable)"),
    db: Optional[str] = DbOpt,
    actor: Optional[str] = ActorOpt,
) -> None:
    """Gửi thư mời qua hàng đợi, đúng giới hạn của kênh / send invites through the outbox at the channel's rate.

    Safe to re-run and to interrupt: each invite is queued once (dedupe key) and a message marked
    sent is never sent again.
    """
    # Imported here: the senders pull in the Telegram and HTTP stacks (~0.3 s), which every other
    # round/invites/status command would pay at start-up (hailong/cli.py mounts this module for them).
    from bot.telegram.sender import TelegramSender, build_telegram_bot
    from bot.zalo.client import ZaloBotClient
    from bot.zalo.pacer import Pacer
    from bot.zalo.sender import ZaloSender

    if channel not in ("telegram", "zalo"):
        fail(f"kênh không hỗ trợ / unsupported channel {channel[:40]!r}: telegram | zalo")
    bot_username = checked_bot_username(bot_username)
    try:
        settings = Settings()
    except Exception as exc:  # noqa: BLE001 - pydantic validation of env: show it plainly
        fail(f"cấu hình sai / bad settings: {exc}")
    token = (settings.telegram_token if channel == "telegram" else settings.zalo_token)
    if not enqueue_only and token is None:
        fail(f"cần token của bot {channel} (HAILONG_{channel.upper()}_TOKEN) hoặc --enqueue-only / "
              f"the {channel} bot token is needed, or use --enqueue-only")

    async def run(d: Any) -> Any:
        r = await round_by_code(d, round_code)
        if r.status != "open":
            raise UserError(f"đợt {r.code} chưa mở ({r.status}); chạy 'hailong round open' / round {r.code} is "
                            f"{r.status}: open it first")
        unit_ids = None
        if unit:
            names = await unit_names(d, [x.unit_id for x in await list_respondents(d, r.id)])
            unit_ids = [uid for uid, n in names.items() if n[0] in set(unit)]
        deadline = fmt_time(r.closes_at, with_time=False) if r.closes_at else None
        bot = None
        username = bot_username
        if channel == "telegram" and not enqueue_only:
            assert settings.telegram_token is not None
            bot = build_telegram_bot(settings.telegram_token.get_secret_value(), settings.telegram_base_url,
                                     rate=settings.telegram_rate_overall, per_chat=settings.telegram_rate_per_chat)
            await bot.initialize()
            username = username or bot.username
        if channel == "telegram" and not username:
            raise UserError("cần --bot-username / --bot-username is needed with --enqueue-only")
        try:
            res = await enqueue_invites(d, r.id, channel, bot_username=username, deadline=deadline,
                                        unit_ids=unit_ids)
            await audit(d, default_actor(actor), "invites.send", {"channel": channel, "new": res.new,
                                                           "already": res.already, "no_contact": res.no_contact}, r.id)
            console.print(f"Xếp hàng / queued: {res.new} mới / new, {res.already} đã có / already queued, "
                          f"{res.no_contact} không có {channel} / without a {channel} id, "
                          f"{res.skipped_status} đã bắt đầu hoặc kết thúc / already started or final")
            if enqueue_only:
                return None
            if channel == "telegram":
                sender: Any = TelegramSender(bot)
            else:
                assert settings.zalo_token is not None
                client = ZaloBotClient(settings.zalo_token.get_secret_value(), settings.zalo_base_url)
                pacer = await Pacer(rate=settings.zalo_rate_overall, per_chat_rate=settings.zalo_rate_per_chat).start()
                sender = ZaloSender(client, pacer)
            total = res.new + res.already
            with Progress(TextColumn("[bold]Gửi / sending[/]"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=console) as prog:
                task = prog.add_task("send", total=max(total, 1), rate="")
                ob = OutboxSender(d, sender, kinds=None)

                def tick(_m: Any) -> None:
                    prog.update(task, advance=1, rate=f"{ob.stats.rate:.1f}/s")

                ob.on_sent = tick
                stats = await ob.run()
            if channel == "zalo":
                await pacer.aclose()
                await client.close()
            return stats
        finally:
            if bot is not None:
                await bot.shutdown()

    stats = run_with_db(db, run)
    if stats is not None:
        console.print(f"Đã gửi / sent {stats.sent} ({stats.rate:.1f}/s), hỏng / dead {stats.dead} "
                      f"(không liên lạc được / unreachable {stats.unreachable}), thử lại / retried {stats.retried}")
        next_step(f"hailong status --round {round_code}")
    else:
        next_step("hailong run --channel all (bot gửi hàng đợi / the bot sends the queue); "
                  f"hailong status --round {round_code}")
