"""Invitations: the Telegram deep link, the Zalo link and instruction, and the invitation text.

The credentials themselves (tokens, short card codes, their check character and how a typed text
is read) are one scheme in ``storage/credentials.py``; this module turns them into what a citizen
sees on a card or in a message (``fieldwork/cards.py`` prints them, the outbox sends them).
"""

from __future__ import annotations

import re

from storage.credentials import InviteError, format_code, is_valid_token

__all__ = ["InviteError", "bot_username_checked", "invite_text", "telegram_link", "zalo_instruction", "zalo_link"]

_BOT_USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")


def bot_username_checked(bot_username: str) -> str:
    """The bot's username without ``@``; InviteError (bilingual) if Telegram would not accept it.

    Commands check it before doing anything, so a typo never reaches a card or a message.
    """
    name = (bot_username or "").strip().lstrip("@")
    if not _BOT_USERNAME_RE.match(name):
        raise InviteError(f"tên bot Telegram {bot_username[:64]!r} không hợp lệ: 5–32 ký tự chữ, số, '_', bắt đầu "
                          f"bằng chữ, ví dụ hailong_laichau_bot / invalid Telegram bot username "
                          f"{bot_username[:64]!r}: 5-32 letters, digits or '_', starting with a letter, "
                          "e.g. hailong_laichau_bot")
    return name


def telegram_link(bot_username: str, token: str) -> str:
    """The deep link that opens the bot with ``/start <token>``: ``https://t.me/<bot>?start=<token>``.

    Raises InviteError for a malformed bot username or token, since a broken link printed on
    thousands of cards is an expensive mistake.
    """
    name = bot_username_checked(bot_username)
    if not is_valid_token(token):
        raise InviteError("mã liên kết không hợp lệ / invalid deep-link token: 1-64 characters of A-Z a-z 0-9 _ -")
    return f"https://t.me/{name}?start={token}"


def zalo_link(oa_id: str) -> str:
    """The link that opens the Zalo Official Account / bot chat (Zalo has no start payload, so the
    citizen then types the short code)."""
    oa = (oa_id or "").strip()
    if not oa or not re.match(r"^[A-Za-z0-9_.-]{1,64}$", oa):
        raise InviteError(f"mã tài khoản Zalo không hợp lệ / invalid Zalo account id {oa_id[:64]!r}")
    return f"https://zalo.me/{oa}"


def zalo_instruction(code: str, zalo_name: str, lang: str = "vi") -> str:
    """One sentence telling the citizen how to answer on Zalo with the short code."""
    shown = format_code(code)
    if lang == "en":
        return f"Or send the code {shown} to “{zalo_name}” on Zalo."
    return f"Hoặc nhắn mã {shown} cho Zalo “{zalo_name}”."


def invite_text(channel: str, code: str, *, deadline: str | None = None, organiser: str = "Sở Nội vụ tỉnh Lai Châu",
                lang: str = "vi") -> str:
    """The invitation message sent through the outbox (Vietnamese first, English after).

    Telegram invites carry a button with the deep link, so the text only says to press it; on Zalo
    (no start payload) the citizen replies with the short code, which the text spells out.
    """
    shown = format_code(code)
    dl_vi = f" Hạn trả lời: {deadline}." if deadline else ""
    dl_en = f" Deadline: {deadline}." if deadline else ""
    if channel == "telegram":
        how_vi = "Bấm nút «Bắt đầu khảo sát» bên dưới để trả lời."
        how_en = "Press the “Start the survey” button below to answer."
    else:
        how_vi = f"Để bắt đầu, hãy nhắn mã {shown} vào cuộc trò chuyện này."
        how_en = f"To begin, send the code {shown} in this chat."
    vi = (f"Kính mời gia đình tham gia khảo sát sự hài lòng của người dân với dịch vụ hành chính công "
          f"do {organiser} thực hiện. Phiếu trả lời mất khoảng 10 phút; thông tin được giữ kín. "
          f"{how_vi}{dl_vi}")
    en = (f"Your household is invited to a short citizen-satisfaction survey ({organiser}); about "
          f"10 minutes, answers kept confidential. {how_en}{dl_en}")
    return en if lang == "en" else f"{vi}\n\n{en}"
