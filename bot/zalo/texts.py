"""What the Zalo channel says (Vietnamese with diacritics, and English), and how an engine reply
reads as one Zalo text: Zalo bots have no buttons, so options are numbered and a hint says what
to type ("1–5", "1 3 then 0", "quay lại"). The questionnaire's own wording is the engine's."""

from __future__ import annotations

from engine.claim_texts import EXAMPLE_CODE
from engine.types import Command, Reply
from survey_defs.i18n import text_in

__all__ = ["TEXTS", "render_reply", "zt"]


TEXTS: dict[str, dict[str, str]] = {
    "need_code": {
        "vi": "Xin chào! Đây là kênh Zalo của cuộc khảo sát sự hài lòng của người dân.\n"
              "Vui lòng gửi mã khảo sát in trên thẻ mời, ví dụ: {example}",
        "en": "Hello! This is the Zalo channel of the citizen-satisfaction survey.\n"
              "Please send the survey code printed on your invitation card, e.g. {example}",
    },
    "non_text": {
        "vi": "Xin lỗi, tôi chỉ đọc được tin nhắn chữ. Vui lòng trả lời bằng số, ví dụ: 1",
        "en": "Sorry, I can only read text messages. Please answer with a number, e.g. 1",
    },
    "non_text_no_session": {
        "vi": "Xin lỗi, tôi chỉ đọc được tin nhắn chữ. Vui lòng gửi mã khảo sát in trên thẻ mời, ví dụ: {example}",
        "en": "Sorry, I can only read text messages. Please type the survey code from your card, e.g. {example}",
    },
    "choice_hint": {"vi": "👉 Trả lời {first}–{last}", "en": "👉 Answer {first}–{last}"},
    "choice_hint_one": {"vi": "👉 Trả lời 1", "en": "👉 Answer 1"},
    "multi_hint": {
        "vi": "👉 Gõ các số Ông/Bà chọn, ví dụ «1 3», rồi gõ 0 để xong (hoặc gõ luôn «1 3 xong»).",
        "en": "👉 Type the numbers you choose, e.g. “1 3”, then 0 when done (or “1 3 done” at once).",
    },
    "picked": {"vi": "Đã chọn: {picks}", "en": "Chosen: {picks}"},
    "picked_none": {"vi": "Chưa chọn ý nào.", "en": "Nothing chosen yet."},
    "back_hint": {"vi": "«quay lại»: sửa câu trước", "en": "“back”: change the previous answer"},
    "skip_hint": {"vi": "«bỏ qua»: bỏ qua câu này", "en": "“skip”: skip this question"},
    "page_link": {
        "vi": "📝 Ông/Bà có thể trả lời nhanh hơn trên trang phiếu (mở trong Zalo): {url}\n"
              "Hoặc trả lời tiếp ngay tại đây.",
        "en": "📝 You can answer faster on the questionnaire page (opens in Zalo): {url}\nOr go on answering here.",
    },
    "busy": {
        "vi": "Xin lỗi, hệ thống đang bận. Vui lòng gửi lại tin nhắn sau ít phút.",
        "en": "Sorry, the system is busy. Please send your message again in a few minutes.",
    },
}


def zt(key: str, lang: str, **kw: object) -> str:
    """A channel text in ``lang`` (Vietnamese when the language is unknown)."""
    entry = TEXTS[key]
    text = text_in(entry, lang)
    kw.setdefault("example", EXAMPLE_CODE)
    try:
        return text.format(**kw)
    except (KeyError, IndexError, ValueError):
        return text


def render_reply(reply: Reply, lang: str = "vi") -> str:
    """An engine reply as one Zalo text: numbered options and a typed-answer hint, no buttons."""
    lines = [reply.text] if reply.text else []
    opts = reply.options
    if opts:
        for i, o in enumerate(opts, 1):
            if reply.multi:
                lines.append(f"{i}. {'☑' if o.selected else '☐'} {o.label}")
            else:
                lines.append(f"{i}. {o.label}{' ✓' if o.selected else ''}")
        if reply.multi:
            picks = [str(i) for i, o in enumerate(opts, 1) if o.selected]
            lines.append(zt("picked", lang, picks=", ".join(picks)) if picks else zt("picked_none", lang))
            hint = zt("multi_hint", lang)
        elif len(opts) == 1:
            hint = zt("choice_hint_one", lang)
        else:
            hint = zt("choice_hint", lang, first=1, last=len(opts))
        extras = []
        for a in reply.actions:
            if isinstance(a.input, Command) and a.input.name == "back":
                extras.append(zt("back_hint", lang))
            elif isinstance(a.input, Command) and a.input.name == "skip":
                extras.append(zt("skip_hint", lang))
        lines.append(" · ".join([hint, *extras]))
    return "\n".join(lines)
