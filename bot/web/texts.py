"""Texts of the questionnaire page (Vietnamese with full diacritics, and English).

Only what the page itself says: buttons, headings, hints for a form. Everything the engine says
(invalid answers, the end of a screening, thanks) comes from the engine's own catalogue
(``engine.texts``) through its replies, so the page and the chat say the same thing.
"""

from __future__ import annotations

from engine.texts import CATALOGUE

PAGE: dict[str, dict[str, str]] = {
    "doc_title": {"vi": "Phiếu khảo sát", "en": "Questionnaire"},
    "section_of": {"vi": "Phần {n}/{total}", "en": "Part {n} of {total}"},
    "question_of": {"vi": "Câu {n}/{total}", "en": "Question {n} of {total}"},
    "next": {"vi": "Lưu và tiếp tục", "en": "Save and continue"},
    "back": {"vi": "Quay lại", "en": "Back"},
    "start": {"vi": "Bắt đầu", "en": "Start"},
    "optional": {"vi": "Không bắt buộc", "en": "Optional"},
    "multi_hint": {"vi": "Chọn một hoặc nhiều ý.", "en": "Choose one or more."},
    "multi_hint_range": {"vi": "Chọn từ {min} đến {max} ý.", "en": "Choose {min} to {max} options."},
    "number_hint_range": {"vi": "Nhập một số từ {min} đến {max}.", "en": "A number from {min} to {max}."},
    "number_hint": {"vi": "Nhập một số.", "en": "A number."},
    "saved": {"vi": "Đã lưu", "en": "Saved"},
    "saving": {"vi": "Đang lưu…", "en": "Saving…"},
    "save_failed": {"vi": "Chưa lưu được, sẽ lưu khi bấm «Lưu và tiếp tục».",
                    "en": "Not saved yet; it will be saved when you press “Save and continue”."},
    "fix_below": {"vi": "Vui lòng xem lại các câu được đánh dấu bên dưới.",
                  "en": "Please check the questions marked below."},
    "new_questions": {"vi": "Có thêm câu hỏi theo câu trả lời của Ông/Bà, vui lòng trả lời tiếp.",
                      "en": "Your answers opened more questions; please answer them too."},
    "review_title": {"vi": "Xem lại câu trả lời", "en": "Review your answers"},
    "review_intro": {"vi": "Ông/Bà kiểm tra lại rồi bấm «Gửi phiếu». Bấm «Sửa» để thay đổi một phần.",
                     "en": "Check your answers, then press “Submit”. Press “Edit” to change a part."},
    "edit": {"vi": "Sửa", "en": "Edit"},
    "submit": {"vi": "Gửi phiếu", "en": "Submit"},
    "skipped": CATALOGUE["skipped"],                         # the review says it as the chat does
    "answered_elsewhere": CATALOGUE["answered_elsewhere"],
    "other_lang": {"vi": "English", "en": "Tiếng Việt"},
    "continue_chat": {"vi": "Ông/Bà có thể đóng trang này; phiếu cũng tiếp tục được trong cuộc trò chuyện.",
                      "en": "You may close this page; the questionnaire also continues in the chat."},
    "paused": {"vi": "Phiếu đang tạm dừng. Bấm «Lưu và tiếp tục» để làm tiếp.",
               "en": "The questionnaire is paused. Press “Save and continue” to go on."},
}

#: Before we know the visitor's language: both, Vietnamese first.
BILINGUAL: dict[str, str] = {
    "bad_link": "Đường dẫn này không hợp lệ hoặc đã hết hạn. Vui lòng mở lại phiếu từ cuộc trò chuyện hoặc từ "
                "phiếu mời.\nThis link is not valid or has expired. Please open the questionnaire again from "
                "the chat or from your invitation card.",
    "moved": "Phiếu này đang được trả lời ở một cuộc trò chuyện khác, nên trang này không còn dùng được.\n"
             "This questionnaire is now answered in another chat, so this page no longer works.",
    "bad_form": "Biểu mẫu đã cũ hoặc không hợp lệ. Vui lòng tải lại trang.\n"
                "This form is outdated or not valid. Please reload the page.",
    "too_many": "Có quá nhiều yêu cầu. Vui lòng thử lại sau ít phút.\n"
                "Too many requests. Please try again in a few minutes.",
    "tg_refused": "Không xác nhận được Telegram. Vui lòng đóng trang và mở lại từ nút trong cuộc trò chuyện với "
                  "bot.\nTelegram could not be verified. Please close this page and open it again from the button "
                  "in the chat with the bot.",
    "tg_no_session": "Chưa có phiếu nào gắn với tài khoản Telegram này. Vui lòng mở đường dẫn hoặc quét mã QR "
                     "trên phiếu mời trước.\nNo questionnaire is linked to this Telegram account yet. Please "
                     "open the link or scan the QR code on your invitation card first.",
    "tg_opening": "Đang mở phiếu khảo sát…\nOpening the questionnaire…",
    "tg_needs_js": "Trang này cần được mở từ nút trong Telegram.\nThis page must be opened from the button in "
                   "Telegram.",
    "claim_title": "Phiếu khảo sát sự hài lòng / Satisfaction questionnaire",
    "claim_intro": "Ông/Bà được mời trả lời phiếu khảo sát. Bấm nút bên dưới để mở phiếu trên trang này.\n"
                   "You are invited to answer a questionnaire. Press the button below to open it on this page.",
    "claim_button": "Mở phiếu / Open the questionnaire",
    "no_cookie": "Trình duyệt chưa lưu được thông tin phiên. Vui lòng bật cookie rồi mở lại đường dẫn.\n"
                 "The browser did not keep the session. Please allow cookies and open the link again.",
    "error": "Xin lỗi, đã có lỗi. Vui lòng thử lại sau ít phút.\nSorry, something went wrong. Please try again "
             "in a few minutes.",
    "busy": "Hệ thống đang bận lưu dữ liệu. Vui lòng thử lại sau ít phút; các câu đã lưu không bị mất.\n"
            "The system is busy saving data. Please try again in a few minutes; saved answers are kept.",
}


def page_text(key: str, lang: str, **kw: object) -> str:
    """A page text in ``lang`` (Vietnamese when missing); never raises on a bad placeholder."""
    entry = PAGE[key]
    text = entry.get(lang) or entry["vi"]
    if not kw:
        return text
    try:
        return text.format(**kw)
    except (KeyError, IndexError, ValueError):
        return text
