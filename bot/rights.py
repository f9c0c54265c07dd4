"""``/dulieu`` (``/mydata``) and ``/xoa`` (``/delete``) in the chat: the citizen's rights, the same
on every channel (storage.rights does the work; this module recognises the command and writes
the replies, in Vietnamese or English).

A rights command is handled before the engine sees the text, at any point of the questionnaire
(before a claim, mid-survey, after the end, after the round closed): it never changes the
current question. ``/dulieu`` shows what is stored (contact fields masked, answers, consent);
``/xoa`` withdraws consent and erases at once, and an unfinished questionnaire ends.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from storage.rights import DEADLINE_DAYS, DUPLICATE, MyData
from survey_defs.schema import Survey

#: Command (first word, lower case, without "@bot") → request kind.
COMMANDS = {"/dulieu": "access", "/mydata": "access", "/dữliệu": "access", "/xoa": "erase", "/xóa": "erase",
            "/delete": "erase"}
#: Longest message sent (Zalo's limit is 2 000 characters; Telegram's 4 096).
MAX_MESSAGE = 1800
_TZ = dt.timezone(dt.timedelta(hours=7))

_STATUS = {
    "vi": {"sampled": "được chọn", "invited": "đã mời", "opened": "đã mở", "started": "đang trả lời",
           "partial": "chưa xong", "completed": "đã hoàn thành", "refused": "đã rút lại / từ chối",
           "ineligible": "không thuộc đối tượng", "unreachable": "không liên lạc được", "substituted": "đã thay thế"},
    "en": {"sampled": "sampled", "invited": "invited", "opened": "opened", "started": "answering",
           "partial": "unfinished", "completed": "completed", "refused": "withdrawn / refused",
           "ineligible": "not eligible", "unreachable": "unreachable", "substituted": "substituted"},
}
_FIELDS = {"vi": {"name": "tên", "phone": "điện thoại", "telegram_id": "Telegram", "zalo_id": "Zalo",
                  "address": "địa chỉ"},
           "en": {"name": "name", "phone": "phone", "telegram_id": "Telegram", "zalo_id": "Zalo",
                  "address": "address"}}


def rights_command(text: str | None) -> str | None:
    """``"access"`` or ``"erase"`` if ``text`` is a rights command (``/xoa@MyBot`` too), else None."""
    if not text:
        return None
    word = text.strip().split(maxsplit=1)[0].lower() if text.strip() else ""
    return COMMANDS.get(word.split("@", 1)[0])


def _when(at: float) -> str:
    return dt.datetime.fromtimestamp(at, _TZ).strftime("%d/%m/%Y %H:%M")


def _answer_label(survey: Survey | None, step: str, raw: str, lang: str) -> tuple[str, str]:
    try:
        value: Any = json.loads(raw)
    except (TypeError, ValueError):
        value = raw
    if survey is None:
        return step, str(value)
    q = survey.question_by_id.get(step.split(".", 1)[0])
    if q is None:
        return step, str(value)
    title = q.text.get(lang) or q.text.get("vi") or step
    title = title.splitlines()[-1]
    title = title if len(title) <= 70 else title[:69] + "…"
    labels = {o.value: (o.label.get(lang) or o.label.get("vi") or str(o.value)) for o in survey.options_of(q)}
    if isinstance(value, list):
        shown = ", ".join(labels.get(v, str(v)) for v in value)
    else:
        shown = labels.get(value, str(value))
    return title, shown


def render_my_data(data: MyData | None, survey: Survey | None, lang: str) -> list[str]:
    """The ``/dulieu`` reply, split into messages of at most ``MAX_MESSAGE`` characters."""
    vi = lang != "en"
    if data is None:
        return ["Hailong không lưu dữ liệu nào gắn với cuộc trò chuyện này." if vi else
                "hailong holds no data linked to this chat."]
    st = _STATUS["vi" if vi else "en"]
    fields = _FIELDS["vi" if vi else "en"]
    lines = [f"Dữ liệu hailong lưu về Ông/Bà — đợt {data.round_code}:" if vi else
             f"Data hailong holds about you — round {data.round_code}:",
             ("• Tình trạng: " if vi else "• Status: ") + st.get(data.status, data.status)]
    contact = "; ".join(f"{fields.get(k, k)} {v}" for k, v in data.contact.items())
    lines.append(("• Liên hệ (che bớt): " if vi else "• Contact (masked): ") + (contact or ("không có" if vi else "none")))
    lines.append(("• Chat: " if vi else "• Chats: ") + (", ".join(c.capitalize() for c in data.chats) or "—"))
    for at, version, channel, agreed in data.consents:
        lines.append(("• Đồng ý: " if vi else "• Consent: ") +
                     (("có" if agreed else "không") if vi else ("yes" if agreed else "no")) +
                     f", {_when(at)}, " + (f"phiên bản {version}, qua {channel}" if vi else f"version {version}, via {channel}"))
    lines.append((f"• Câu trả lời ({len(data.answers)}):" if vi else f"• Answers ({len(data.answers)}):"))
    for step, raw in data.answers:
        title, shown = _answer_label(survey, step, raw, "vi" if vi else "en")
        lines.append(f"  – {title}: {shown}")
    lines.append(f"Gõ /xoa để rút lại đồng ý và xóa thông tin liên hệ. Yêu cầu số {data.request_id} đã được ghi nhận."
                 if vi else
                 f"Type /delete to withdraw consent and delete your contact data. Request no. {data.request_id} "
                 "is logged.")
    return _split(lines)


def render_erased(counts: dict[str, int] | None, lang: str) -> list[str]:
    """The ``/xoa`` reply."""
    vi = lang != "en"
    if counts is None:
        return ["Hailong không lưu dữ liệu nào gắn với cuộc trò chuyện này; không có gì để xóa." if vi else
                "hailong holds no data linked to this chat; there is nothing to delete."]
    answers_gone = any(k.endswith("_deleted") and v for k, v in counts.items())
    if vi:
        text = ("Đã rút lại đồng ý và xóa thông tin liên hệ, liên kết chat và mã mời của Ông/Bà. "
                + ("Câu trả lời cũng đã được xóa. " if answers_gone else
                   "Câu trả lời được giữ ở dạng ẩn danh để thống kê, như thông báo khi Ông/Bà đồng ý. ")
                + ("Phiếu chưa xong đã dừng. " if counts.get("ended") else "")
                + f"Yêu cầu đã được ghi nhận (hạn xử lý theo luật: {DEADLINE_DAYS} ngày; việc xóa đã làm ngay). "
                  "Cảm ơn Ông/Bà.")
    else:
        text = ("Your consent is withdrawn and your contact data, chat link and invitation code are deleted. "
                + ("Your answers are deleted too. " if answers_gone else
                   "Your answers are kept de-identified for statistics, as the consent notice said. ")
                + ("The unfinished questionnaire has stopped. " if counts.get("ended") else "")
                + f"The request is logged (legal deadline: {DEADLINE_DAYS} days; the deletion is done now). Thank you.")
    return [text]


def _split(lines: list[str]) -> list[str]:
    out, cur = [], ""
    for line in lines:
        line = line if len(line) <= MAX_MESSAGE else line[:MAX_MESSAGE - 1] + "…"
        if cur and len(cur) + 1 + len(line) > MAX_MESSAGE:
            out.append(cur)
            cur = line
        else:
            cur = f"{cur}\n{line}" if cur else line
    if cur:
        out.append(cur)
    return out


async def handle_rights(store: Any, kind: str, channel: str, chat_id: str, update_key: str, lang: str | None,
                        survey_of: Any = None) -> list[str]:
    """Act on a rights command and return the replies (none for a redelivered update).

    ``store``: the conversation store (``my_data``, ``erase_chat``); ``lang``: the chat's
    language if known (else the response's); ``survey_of(hash)``: an async look-up of a
    questionnaire (for answer labels)."""
    if kind == "access":
        data = await store.my_data(channel, chat_id, update_key)
        if data is DUPLICATE:
            return []
        survey = None
        if data is not None and survey_of is not None:
            try:
                survey = await survey_of(data.survey_hash)
            except KeyError:
                survey = None
        return render_my_data(data, survey, lang or (data.lang if data is not None else "vi"))
    counts = await store.erase_chat(channel, chat_id, update_key)
    return [] if counts is DUPLICATE else render_erased(counts, lang or "vi")
