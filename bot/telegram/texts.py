"""What the Telegram channel itself says (Vietnamese and English): notices, button labels, the
note under an answered question. The questionnaire's own wording is the engine's
(``engine.texts``); claim replies are shared by every channel (``engine.claim_texts``)."""

from __future__ import annotations

from survey_defs.i18n import text_in

TEXTS: dict[str, dict[str, str]] = {
    "bad_button": {"vi": "Nút này không hợp lệ.", "en": "This button is not valid."},
    "no_session_button": {"vi": "Phiếu này không còn hoạt động.", "en": "This survey is no longer active."},
    "junk": {"vi": "Vui lòng trả lời bằng cách bấm nút hoặc gõ số của câu trả lời.",
             "en": "Please answer with a button or type the number of your answer."},
    "edited": {"vi": "Tin nhắn đã sửa không được tính. Vui lòng gửi câu trả lời mới (bấm nút hoặc gõ số).",
               "en": "Edited messages are not counted. Please send your answer again (a button or a number)."},
    "group": {"vi": "Để tham gia khảo sát, vui lòng nhắn riêng cho bot: https://t.me/{bot}",
              "en": "To take part in the survey, please message the bot privately: https://t.me/{bot}"},
    "pause_btn": {"vi": "⏸ Tạm dừng", "en": "⏸ Pause"},
    "chosen": {"vi": "→ Ông/Bà đã chọn: {label}", "en": "→ Your answer: {label}"},
    "went_back": {"vi": "↩ Đã quay lại câu trước.", "en": "↩ Went back to the previous question."},
    "closed_q": {"vi": "(đã đóng)", "en": "(closed)"},
    "error": {"vi": "Xin lỗi, đã có lỗi. Vui lòng thử lại sau ít phút.",
              "en": "Sorry, something went wrong. Please try again in a few minutes."},
    "open_page": {"vi": "📝 Trả lời trên trang (nhanh hơn)", "en": "📝 Answer on a page (faster)"},
}
# Before we know a citizen's language: both, Vietnamese first. (Claim replies: engine.claim_texts.)
BILINGUAL: dict[str, str] = {
    "need_invite": "Xin chào! Đây là bot khảo sát sự hài lòng của người dân. Để tham gia, vui lòng mở "
                   "đường dẫn hoặc quét mã QR trên phiếu mời Ông/Bà nhận được.\n"
                   "Hello! This is the citizen-satisfaction survey bot. To take part, please open the link "
                   "or scan the QR code on the invitation card you received.",
    "press_start": "Xin chào! Vui lòng bấm /start để bắt đầu khảo sát.\n"
                   "Hello! Please press /start to begin the survey.",
}


def t(key: str, lang: str, **kw: object) -> str:
    """The channel text ``key`` in ``lang`` (else Vietnamese), formatted with ``kw``."""
    entry = TEXTS[key]
    text = text_in(entry, lang)
    return text.format(**kw) if kw else text
