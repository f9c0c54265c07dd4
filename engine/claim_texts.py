"""What citizens are told about invitation credentials, on every channel: refusals, limits and
hand-overs between chats (the rule is in docs/credentials.md), and how a holder answers a
hand-over request (buttons on Telegram, typed words everywhere).

Why one module: the same words must reach a citizen whichever channel the claim or the request
came through, and a hand-over notice is queued by storage for a chat on *another* channel than
the one that caused it, so neither adapter can own these texts. Nothing here does I/O.

All texts are bilingual (Vietnamese with full diacritics, then English): they are sent before
the citizen chose a language, or to a chat whose language this process does not know.

No oracle: a chat that does not hold a credential gets :data:`REFUSED` for an unknown, used,
completed, closed or withdrawn code alike; only the chat bound to that respondent gets the
specific, friendlier :data:`OWNER` texts.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from engine.normalize import answer_key

Decision = Literal["allow", "deny"]

EXAMPLE_CODE = "KS 4F7K2QM"
CHANNEL_NAMES = {"telegram": "Telegram", "zalo": "Zalo", "console": "console"}

#: Every refusal of a claim by a chat that does not hold the credential (same words for all).
REFUSED = ("Xin lỗi, mã mời này không đúng hoặc không dùng được nữa (mã sai, đã được dùng, hoặc đợt khảo sát "
           "đã kết thúc). Vui lòng kiểm tra lại thẻ mời, hoặc liên hệ cán bộ khảo sát.\n"
           "Sorry, this invitation code is not valid or can no longer be used (wrong, already used, or the "
           "survey round has ended). Please check your invitation card or contact the survey staff.")

#: A code whose check character is wrong (a typo; never looked up, so it reveals nothing).
TYPO = (f"Mã chưa đúng (có thể gõ nhầm một ký tự). Vui lòng kiểm tra thẻ mời và gửi lại, ví dụ: {EXAMPLE_CODE}\n"
        f"That code is not right (perhaps one character was mistyped). Please check the card and send it "
        f"again, e.g. {EXAMPLE_CODE}")

#: The chat bound to the respondent claims again a credential it can no longer answer with.
OWNER: dict[str, str] = {
    "completed": "Phiếu của Ông/Bà đã được ghi nhận đầy đủ. Xin cảm ơn Ông/Bà đã tham gia!\n"
                 "Your answers are already recorded. Thank you for taking part!",
    "closed": "Đợt khảo sát này đã kết thúc, không nhận thêm câu trả lời. Xin cảm ơn Ông/Bà!\n"
              "This survey round has closed and no longer accepts answers. Thank you!",
    "withdrawn": "Ông/Bà đã từ chối tham gia khảo sát này, chúng tôi sẽ không nhắn thêm. Xin cảm ơn!\n"
                 "You declined this survey; we will not message you again. Thank you!",
}

_LIMITED = ("Ông/Bà đã gửi sai mã nhiều lần. Vui lòng thử lại sau {wait_vi}.\n"
            "Too many wrong codes. Please try again in {wait_en}.")
_SLOWED = ("Hệ thống đang nhận rất nhiều mã sai nên tạm thời chậm lại. Vui lòng thử lại sau {wait_vi}.\n"
           "The system is receiving many wrong codes and has slowed down. Please try again in {wait_en}.")

_HELD = ("Lời mời này đang được dùng ở một cuộc trò chuyện khác. Chúng tôi đã nhắn cho cuộc trò chuyện đó "
         "để xác nhận. Khi được cho phép, hoặc sau {wait_vi} nếu không có trả lời, vui lòng {again_vi} để "
         "tiếp tục.\n"
         "This invitation is already in use on another chat; we asked that chat to confirm. Once it "
         "agrees, or after {wait_en} without an answer, please {again_en} to continue.")
NOT_ALLOWED = ("Người đang giữ lời mời này cho biết không phải họ chuyển phiếu, nên cuộc trò chuyện này không "
               "được tiếp tục. Nếu đây là phiếu mời của Ông/Bà, vui lòng liên hệ cán bộ khảo sát.\n"
               "The holder of this invitation said the move was not theirs, so this chat cannot continue. "
               "If this is your invitation, please contact the survey staff.")
CONTINUED_HIDDEN = ("Cuộc trò chuyện trước không trả lời nên Ông/Bà được tiếp tục ở đây. Các câu đã trả lời "
                    "trước đó được giữ kín, không xem lại và không sửa được.\n"
                    "The previous chat did not answer, so you can continue here. The answers given there are "
                    "kept private and cannot be viewed or changed.")

_ASK = ("⚠️ Lời mời khảo sát của Ông/Bà vừa được gửi từ một tài khoản {channel} khác.\n"
        "• Nếu Ông/Bà đổi điện thoại hoặc muốn trả lời tiếp ở đó: {allow_vi}.\n"
        "• Nếu không phải Ông/Bà: {deny_vi}.\n"
        "Nếu không có trả lời trong {wait_vi}, tài khoản kia được trả lời tiếp nhưng không xem được các câu "
        "Ông/Bà đã trả lời.\n\n"
        "⚠️ Your survey invitation was just used from another {channel} account.\n"
        "• If you changed phone or want to continue there: {allow_en}.\n"
        "• If it was not you: {deny_en}.\n"
        "Without an answer within {wait_en}, the other account may continue, but it cannot see the "
        "answers you gave.")
_MOVED = ("Lời mời khảo sát của Ông/Bà vừa được mở ở một tài khoản {channel} khác; phiếu sẽ được trả lời ở "
          "đó. Nếu không phải Ông/Bà, vui lòng {again_vi} ngay và báo cho cán bộ khảo sát.\n"
          "Your survey invitation was just opened from another {channel} account, where the survey will "
          "continue. If that was not you, please {again_en} now and tell the survey staff.")
_ALLOWED_NEW = ("Cuộc trò chuyện trước đã cho phép. Vui lòng {again_vi} để tiếp tục khảo sát.\n"
                "The other chat agreed. Please {again_en} to continue the survey.")
ALLOWED_OLD = ("Đã cho phép. Phiếu được trả lời tiếp ở tài khoản mới; cuộc trò chuyện này không nhận câu trả "
               "lời nữa.\n"
               "Done: the survey continues on the new account; this chat no longer takes answers.")
DENIED_OLD = ("Cảm ơn Ông/Bà. Tài khoản kia đã bị từ chối và cán bộ khảo sát sẽ thấy việc này. Ông/Bà tiếp "
              "tục trả lời ở đây.\n"
              "Thank you. The other account was refused and the survey staff will see it. You can continue here.")
DECISION_STALE = ("Yêu cầu này không còn hiệu lực.\n"
                  "This request is no longer valid.")

ALLOW_LABEL = "✅ Cho phép / Allow"
DENY_LABEL = "🚫 Không phải tôi / Not me"

# Typed answers to a hand-over request (folded: no diacritics, lower case, no punctuation).
_ALLOW_WORDS = frozenset({"cho phep", "cho phep chuyen", "dong y chuyen", "allow", "allow move"})
_DENY_WORDS = frozenset({"khong phai toi", "not me", "it was not me", "khong cho phep", "deny"})

_BUTTON_DATA = re.compile(r"^ho\|([A-Za-z0-9_-]{8,40})\|([yn])$")


def _again(channel: str) -> tuple[str, str]:
    """How a chat on ``channel`` claims again: (Vietnamese, English)."""
    if channel == "telegram":
        return ("bấm lại đường dẫn trên phiếu mời (hoặc bấm /start)",
                "open the link on your invitation card again (or press /start)")
    return "gửi lại mã in trên thẻ mời", "send the code printed on your card again"


def _minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


def limited(retry_after: float) -> str:
    """This chat sent too many wrong codes: when to try again."""
    wait_vi, wait_en = _span(retry_after)
    return _LIMITED.format(wait_vi=wait_vi, wait_en=wait_en)


def slowed(retry_after: float) -> str:
    """A guessing campaign slowed every claim of the channel down: when to try again."""
    wait_vi, wait_en = _span(retry_after)
    return _SLOWED.format(wait_vi=wait_vi, wait_en=wait_en)


def held(channel: str, wait_s: float) -> str:
    """To the chat whose claim waits for the holder's confirmation (at most ``wait_s`` more)."""
    vi, en = _again(channel)
    wait_vi, wait_en = _span(wait_s)
    return _HELD.format(wait_vi=wait_vi, wait_en=wait_en, again_vi=vi, again_en=en)


def _span(seconds: float) -> tuple[str, str]:
    """A wait as people say it, rounded up: ("12 giờ", "12 hours") or ("5 phút", "5 minutes")."""
    if seconds >= 3600:
        h = math.ceil(seconds / 3600 - 1e-9)
        return f"{h} giờ", f"{h} hour{'s' if h != 1 else ''}"
    m = _minutes(seconds)
    return f"{m} phút", f"{m} minute{'s' if m != 1 else ''}"


def ask(holder_channel: str, claimer_channel: str, timeout_s: float) -> str:
    """To the holder: another chat wants this invitation (buttons on Telegram, words elsewhere)."""
    if holder_channel == "telegram":
        allow_vi, deny_vi = "bấm «Cho phép»", "bấm «Không phải tôi»"
        allow_en, deny_en = "press “Allow”", "press “Not me”"
    else:
        allow_vi, deny_vi = "gõ CHO PHÉP", "gõ KHÔNG PHẢI TÔI"
        allow_en, deny_en = "type ALLOW", "type NOT ME"
    wait_vi, wait_en = _span(timeout_s)
    return _ASK.format(channel=CHANNEL_NAMES.get(claimer_channel, claimer_channel), wait_vi=wait_vi, wait_en=wait_en,
                       allow_vi=allow_vi, deny_vi=deny_vi, allow_en=allow_en, deny_en=deny_en)


def moved(holder_channel: str, claimer_channel: str) -> str:
    """To the former holder of a credential without answers that another chat just took."""
    vi, en = _again(holder_channel)
    return _MOVED.format(channel=CHANNEL_NAMES.get(claimer_channel, claimer_channel), again_vi=vi, again_en=en)


def allowed_new(claimer_channel: str) -> str:
    """To the chat the holder allowed: how to continue."""
    vi, en = _again(claimer_channel)
    return _ALLOWED_NEW.format(again_vi=vi, again_en=en)


def claim_reply(status: str, channel: str, retry_after: float = 0.0) -> str:
    """What a chat is told when its claim did not open a session (``storage.api.Claim``'s
    status and ``retry_after``: when to try again, or for a held claim when the holder's time
    to answer runs out).

    ``typo`` (a code whose check character is wrong) gets the typo hint where codes are typed by
    hand; on Telegram the claim came from a link, so it is refused like any unknown code.
    """
    if status in OWNER:
        return OWNER[status]
    if status == "typo" and channel != "telegram":
        return TYPO
    if status == "limited":
        return limited(retry_after)
    if status == "slowed":
        return slowed(retry_after)
    if status == "held":
        return held(channel, retry_after)
    if status == "not_allowed":
        return NOT_ALLOWED
    return REFUSED


def ask_buttons(nonce: str) -> list[list[dict[str, str]]]:
    """The holder's buttons on Telegram (the nonce authenticates them, ``storage.handovers``)."""
    return [[{"text": ALLOW_LABEL, "callback_data": f"ho|{nonce}|y"},
             {"text": DENY_LABEL, "callback_data": f"ho|{nonce}|n"}]]


def is_decision_button(data: object) -> bool:
    """Whether callback data is meant as a hand-over decision (checked further by storage)."""
    return isinstance(data, str) and data.startswith("ho|")


def button_decision(data: str) -> tuple[str, Decision] | None:
    """``(nonce, decision)`` of a well-formed decision button, else None (forged or junk)."""
    m = _BUTTON_DATA.match(data or "")
    if m is None:
        return None
    return m.group(1), ("allow" if m.group(2) == "y" else "deny")


def typed_decision(text: str) -> Decision | None:
    """A typed answer to a hand-over request ("cho phép", "KHÔNG PHẢI TÔI", "not me"…), else None."""
    if not isinstance(text, str) or len(text) > 40:
        return None
    key = answer_key(text)
    if key in _ALLOW_WORDS:
        return "allow"
    if key in _DENY_WORDS:
        return "deny"
    return None
