"""Telegram commands that are not the questionnaire: staff commands (``/whoami``, ``/status``)
and the one-line answer to a command posted in a group (surveys are private chats only).

Kept apart from ``bot.telegram.channel`` (the citizens' pipeline): staff replies never touch a
respondent's session, and their one security rule (reply only to the sender's own private chat)
is easiest to check where nothing else happens.
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from telegram import Bot, Update
from telegram.error import TelegramError

from bot.settings import Settings
from bot.telegram.messages import chunks
from bot.telegram.texts import t

log = logging.getLogger("hailong.telegram")

__all__ = ["answer_in_group", "answer_staff"]


async def answer_in_group(bot: Bot, update: Update) -> None:
    """Groups and channels: surveys are private; answer a command in a group with one line."""
    msg = update.message
    if msg is None or not msg.text or not msg.text.startswith("/"):
        return
    head = msg.text.split(maxsplit=1)[0]
    if "@" in head and head.split("@", 1)[1].lower() != (bot.username or "").lower():
        return  # a command for another bot
    bot_name = bot.username or ""
    try:
        await bot.send_message(msg.chat.id, t("group", "vi", bot=bot_name) + "\n"
                               + t("group", "en", bot=bot_name))
    except TelegramError as exc:
        log.info("could not answer a command in a group: %s", exc)


async def answer_staff(bot: Bot, settings: Settings, status_provider: Callable[[], Awaitable[str]] | None,
                       update: Update, command: str, user_id: int | None) -> bool:
    """Staff commands; returns False for non-staff /status (handled as citizen text).

    Replies go to the sender's own chat (``user_id``), never to the chat the update names: in
    a private chat Telegram's chat id *is* the sender's user id, so an update where the two
    differ was crafted (e.g. posted to a webhook) to have staff content sent elsewhere. Such
    an update gets no staff answer at all and is handled as citizen text.
    """
    if user_id is None or update.effective_chat is None or update.effective_chat.id != user_id:
        if settings.is_staff(user_id):
            log.warning("staff command from a chat that is not the sender's own private chat: "
                        "ignored (forged update?)")
        return False
    staff = settings.is_staff(user_id)
    chat_id = user_id
    if command == "/whoami":
        text = f"Mã người dùng / user id: {user_id}"
        if staff:
            text += "\nVai trò / role: cán bộ khảo sát / survey staff"
        await bot.send_message(chat_id, text)
        return True
    if not staff:
        return False
    if status_provider is None:
        text = "Chưa cấu hình nguồn tiến độ / no progress source configured"
    else:
        try:
            text = await status_provider()
        except Exception:
            log.exception("/status failed")
            text = t("error", "vi") + "\n" + t("error", "en")
    for chunk in chunks(text or "—"):
        await bot.send_message(chat_id, chunk)
    return True
