"""The engine's message catalogue, Vietnamese (full diacritics) and English.

Every text the engine sends that is not part of a questionnaire lives here, keyed, so that
translators find them in one place and a survey can override any of them through
``Survey.messages`` (same key, per language). Messages are short: citizens read them on phones.
Placeholders use ``str.format`` names; :func:`t` never raises (a broken override falls back to
the default text), because the engine must answer every input.
"""

from __future__ import annotations

from typing import Mapping
from survey_defs.i18n import text_in

LANGS: tuple[str, ...] = ("vi", "en")

CATALOGUE: dict[str, dict[str, str]] = {
    "welcome": {
        "vi": "Xin chào! Cảm ơn Ông/Bà tham gia khảo sát «{title}».\n"
              "Có tối đa {total} câu, mỗi câu chỉ cần bấm chọn hoặc gõ số.\n"
              "Gõ «trợ giúp» bất cứ lúc nào để xem hướng dẫn.",
        "en": "Hello! Thank you for taking part in the survey “{title}”.\n"
              "There are at most {total} questions; tap an option or type its number.\n"
              "Type “help” at any time for instructions.",
    },
    "progress": {"vi": "Câu {n}/{total}", "en": "Question {n}/{total}"},
    "current_answer": {"vi": "Câu trả lời hiện tại: {answer}", "en": "Current answer: {answer}"},
    "multi_hint": {
        "vi": "Chọn một hoặc nhiều ý (gõ số, ví dụ «1 3»), rồi bấm «Xong».",
        "en": "Choose one or more (type numbers, e.g. “1 3”), then press “Done”.",
    },
    "multi_hint_range": {
        "vi": "Chọn từ {min} đến {max} ý (gõ số, ví dụ «1 3»), rồi bấm «Xong».",
        "en": "Choose {min} to {max} options (type numbers, e.g. “1 3”), then press “Done”.",
    },
    # the same, on a channel without buttons (console, Zalo): typed, never "press"
    "multi_hint_typed": {
        "vi": "Chọn một hoặc nhiều ý: gõ các số, ví dụ «1 3», rồi gõ «xong».",
        "en": "Choose one or more: type the numbers, e.g. “1 3”, then type “done”.",
    },
    "multi_hint_range_typed": {
        "vi": "Chọn từ {min} đến {max} ý: gõ các số, ví dụ «1 3», rồi gõ «xong».",
        "en": "Choose {min} to {max} options: type the numbers, e.g. “1 3”, then type “done”.",
    },
    # ---- an answer that would end the survey (screening): asked before it counts
    "confirm_end": {
        "vi": "Ông/Bà trả lời «{answer}» cho câu «{question}».\nNếu đúng, khảo sát sẽ kết thúc tại đây. "
              "Đúng không? Gõ «có» để xác nhận, hoặc «không» để trả lời lại.",
        "en": "You answered “{answer}” to “{question}”.\nIf that is right, the survey ends here. "
              "Is it right? Type “yes” to confirm, or “no” to answer again.",
    },
    "optional_hint": {"vi": "(Không bắt buộc: gõ «bỏ qua» để bỏ qua.)",
                      "en": "(Optional: type “skip” to skip.)"},
    "number_hint": {"vi": "Gõ một số.", "en": "Type a number."},
    "number_hint_range": {"vi": "Gõ một số từ {min} đến {max}.", "en": "Type a number from {min} to {max}."},
    "text_hint": {"vi": "Ông/Bà gõ câu trả lời.", "en": "Type your answer."},
    # ---- invalid answers (each is followed by the question again)
    "choice_unknown": {
        "vi": "Chưa hiểu câu trả lời. Vui lòng bấm chọn hoặc gõ số từ 1 đến {n}.",
        "en": "Sorry, I did not understand. Tap an option or type a number from 1 to {n}.",
    },
    "choice_one": {
        "vi": "Câu này chỉ chọn một phương án: gõ một số từ 1 đến {n}.",
        "en": "Choose only one option here: type one number from 1 to {n}.",
    },
    "choice_ambiguous": {
        "vi": "«{text}» khớp với nhiều lựa chọn: {cands}. Vui lòng gõ số.",
        "en": "“{text}” matches several options: {cands}. Please type the number.",
    },
    "required": {"vi": "Câu này bắt buộc, vui lòng trả lời.", "en": "This question is required, please answer it."},
    "number_invalid": {"vi": "Vui lòng gõ một số nguyên, ví dụ: 35.", "en": "Please type a whole number, e.g. 35."},
    "number_range": {"vi": "Vui lòng gõ số từ {min} đến {max}.", "en": "Please type a number from {min} to {max}."},
    "number_min": {"vi": "Vui lòng gõ số từ {min} trở lên.", "en": "Please type a number of at least {min}."},
    "number_max": {"vi": "Vui lòng gõ số không quá {max}.", "en": "Please type a number no larger than {max}."},
    "text_empty": {"vi": "Câu trả lời đang trống, vui lòng gõ nội dung.", "en": "The answer is empty, please type something."},
    "text_too_long": {
        "vi": "Câu trả lời dài quá ({length} ký tự). Vui lòng gõ ngắn hơn, tối đa {max} ký tự.",
        "en": "The answer is too long ({length} characters). Please keep it under {max} characters.",
    },
    "constraint": {"vi": "Câu trả lời không hợp lệ, vui lòng kiểm tra lại.",
                   "en": "That answer is not valid, please check it."},
    "multi_min": {"vi": "Vui lòng chọn ít nhất {n} ý.", "en": "Please choose at least {n} options."},
    "multi_max": {"vi": "Chỉ được chọn tối đa {n} ý.", "en": "You can choose at most {n} options."},
    "multi_exclusive": {
        "vi": "«{label}» không chọn cùng các ý khác được.",
        "en": "“{label}” cannot be combined with other options.",
    },
    "not_multi_done": {"vi": "Vui lòng trả lời câu hỏi.", "en": "Please answer the question."},
    "skip_required": {"vi": "Câu này bắt buộc, không bỏ qua được.", "en": "This question is required and cannot be skipped."},
    # ---- navigation and control
    "back_first": {"vi": "Đây là câu đầu tiên, không quay lại được nữa.",
                   "en": "This is the first question; there is nothing to go back to."},
    "back_handover": {
        "vi": "Các câu trước được trả lời trên thiết bị khác và được giữ kín, không quay lại được.",
        "en": "The earlier questions were answered on another device and are kept private; you cannot go back to them.",
    },
    "edit_handover": {
        "vi": "Câu này đã được trả lời trên thiết bị khác và được giữ kín, không sửa được ở đây.",
        "en": "This question was answered on another device and is kept private; it cannot be changed here.",
    },
    "stale": {"vi": "Câu đó đã qua. Vui lòng trả lời câu hiện tại.",
              "en": "That question has passed. Please answer the current one."},
    "paused": {"vi": "Đã tạm dừng. Câu trả lời của Ông/Bà được giữ lại; gõ «tiếp tục» khi sẵn sàng.",
               "en": "Paused. Your answers are kept; type “continue” when you are ready."},
    "resumed": {"vi": "Chào mừng Ông/Bà quay lại! Chúng ta tiếp tục nhé.", "en": "Welcome back! Let’s continue."},
    "lang_changed": {"vi": "Đã chuyển sang tiếng Việt.", "en": "Switched to English."},
    "lang_unavailable": {"vi": "Phiếu này chỉ có: {langs}.", "en": "This survey is available in: {langs}."},
    "help": {
        "vi": "Hướng dẫn: bấm chọn hoặc gõ số của câu trả lời (có thể gõ chữ, ví dụ «hài lòng»).\n"
              "Lệnh: «quay lại» sửa câu trước · «tạm dừng» · «tiếp tục» · «bỏ qua» (câu không bắt buộc) · "
              "«xem lại» · «/lang en» English · «dừng» ngừng khảo sát.\n"
              "Dữ liệu của Ông/Bà: «/dulieu» xem · «/xoa» rút lại đồng ý và xóa.",
        "en": "How to answer: tap an option or type its number (words work too, e.g. “satisfied”).\n"
              "Commands: “back” change the previous answer · “pause” · “continue” · “skip” (optional "
              "questions) · “review” · “/lang vi” Tiếng Việt · “stop” leave the survey.\n"
              "Your data: “/mydata” see it · “/delete” withdraw consent and delete it.",
    },
    "stopped": {"vi": "Ông/Bà đã dừng khảo sát. Cảm ơn Ông/Bà đã dành thời gian!",
                "en": "You have left the survey. Thank you for your time!"},
    "review_head": {"vi": "Xem lại câu trả lời của Ông/Bà:", "en": "Please review your answers:"},
    "review_more": {"vi": "(tiếp)", "en": "(continued)"},
    "review_section": {"vi": "Phần {k}/{total} · {title}", "en": "Part {k}/{total} · {title}"},
    "review_foot": {"vi": "Gõ «gửi» để gửi phiếu, hoặc «sửa N» để sửa câu số N.",
                    "en": "Type “submit” to send, or “edit N” to change answer N."},
    "review_empty": {"vi": "Chưa có câu trả lời nào.", "en": "No answers yet."},
    "review_so_far": {"vi": "Các câu đã trả lời:", "en": "Your answers so far:"},
    "review_hint": {"vi": "Phiếu đã trả lời xong. Gõ «gửi» để gửi, hoặc «sửa N» để sửa câu số N.",
                    "en": "All questions are answered. Type “submit” to send, or “edit N” to change answer N."},
    "submit_not_ready": {"vi": "Vui lòng trả lời hết các câu trước khi gửi.",
                         "en": "Please answer all questions before submitting."},
    "edit_unknown": {"vi": "Không tìm thấy câu «{arg}» trong các câu đã trả lời.",
                     "en": "No answered question “{arg}” was found."},
    "thanks": {"vi": "Phiếu của Ông/Bà đã được gửi. Xin chân thành cảm ơn Ông/Bà đã tham gia khảo sát!",
               "en": "Your answers have been submitted. Thank you very much for taking part!"},
    "already_done": {"vi": "Phiếu của Ông/Bà đã được ghi nhận, không cần trả lời thêm. Xin cảm ơn!",
                     "en": "Your response is already recorded; nothing more is needed. Thank you!"},
    "already_ended": {"vi": "Cuộc khảo sát với Ông/Bà đã kết thúc. Xin cảm ơn!",
                      "en": "This survey has ended for you. Thank you!"},
    "not_asked": {"vi": "Câu này không áp dụng với Ông/Bà.", "en": "This question does not apply to you."},
    "skipped": {"vi": "(bỏ qua)", "en": "(skipped)"},
    "answered_elsewhere": {"vi": "(đã trả lời trên thiết bị trước)", "en": "(answered on the previous device)"},
    "version_mismatch": {"vi": "Xin lỗi, phiếu đã thay đổi phiên bản. Vui lòng liên hệ cán bộ khảo sát.",
                         "en": "Sorry, this survey changed version. Please contact the survey staff."},
    "error": {"vi": "Xin lỗi, đã có lỗi. Vui lòng thử lại hoặc gõ «trợ giúp».",
              "en": "Sorry, something went wrong. Please try again or type “help”."},
    # ---- button labels
    "btn_back": {"vi": "« Quay lại", "en": "« Back"},
    "btn_skip": {"vi": "Bỏ qua", "en": "Skip"},
    "btn_done": {"vi": "Xong ✓", "en": "Done ✓"},
    "btn_submit": {"vi": "Gửi phiếu", "en": "Submit"},
    "btn_continue": {"vi": "Tiếp tục", "en": "Continue"},
    "btn_confirm_yes": {"vi": "Đúng", "en": "Yes, right"},
    "btn_confirm_no": {"vi": "« Không, trả lời lại", "en": "« No, answer again"},
}


class _SafeDict(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def t(key: str, lang: str, overrides: Mapping[str, Mapping[str, str]] | None = None, **kw: object) -> str:
    """The message ``key`` in ``lang`` (falling back to Vietnamese), with ``kw`` filled in.

    ``overrides`` is ``Survey.messages``: a survey may replace any default text. A missing
    placeholder is left visible rather than raising, and unknown keys return the key itself.
    """
    entry: Mapping[str, str] | None = None
    if overrides:
        entry = overrides.get(key)
    if not entry:
        entry = CATALOGUE.get(key)
        if entry is None:
            return key
    template = text_in(entry, lang, key)
    if not kw:
        return template
    try:
        return template.format_map(_SafeDict(kw))
    except (ValueError, IndexError, AttributeError, KeyError):
        default = CATALOGUE.get(key, {})
        fallback = text_in(default, lang, key)
        try:
            return fallback.format_map(_SafeDict(kw))
        except (ValueError, IndexError, AttributeError, KeyError):
            return fallback
