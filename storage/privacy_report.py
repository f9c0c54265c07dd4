"""``hailong privacy report --round X``: a draft of the impact-assessment annex for one round.

Law 91/2025/QH15 asks a controller to keep an assessment of the impact of its processing of
personal data (and, for a transfer abroad, of that transfer). The draft is built from what the
database knows about the round — the questionnaire and its consent notice, the channels its
citizens used, what is stored and how much, the retention setting and purge, the rights requests
and the exports — so that the Department's legal officer starts from facts, not a blank page.

A foreign chat platform is a cross-border transfer: Telegram (Telegram Messenger, servers outside
Vietnam) carries chat ids and every answer typed in the chat out of the country; Zalo (VNG,
Vietnam) does not. The draft says so for each channel the round used.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from storage.consent import receipt_counts
from storage.db import Database, StorageError
from storage.purge import DEFAULT_RETENTION_DAYS, RETENTION_KEY, blockers_op
from storage.util import loads_obj, now

_TZ = dt.timezone(dt.timedelta(hours=7))
DAY = 86_400.0

#: channel → (platform, operator and where, cross-border transfer?)
CHANNELS: dict[str, tuple[str, str, bool]] = {
    "telegram": ("Telegram", "Telegram Messenger (nước ngoài / foreign; máy chủ ngoài Việt Nam / servers "
                             "outside Vietnam)", True),
    "zalo": ("Zalo", "VNG (Việt Nam / Vietnam)", False),
    "console": ("Console", "máy chủ của Sở / the Department's own server", False),
    "web": ("Web", "máy chủ của Sở / the Department's own server", False),
    "paper": ("Phiếu giấy / paper", "nhập liệu tại Sở / keyed in at the Department", False),
}

DATA_ITEMS: list[tuple[str, str, str]] = [
    ("Họ tên, số điện thoại, địa chỉ (danh sách mẫu) / name, phone, address (sample list)", "contacts",
     "mời, nhắc, phúc tra / invite, remind, re-check"),
    ("Mã tài khoản Telegram/Zalo, mã chat / Telegram/Zalo account and chat ids", "contacts, chat_bindings, outbox",
     "gửi phiếu và tin nhắn / deliver the questionnaire and messages"),
    ("Mã mời, mã thẻ / invitation token, card code", "respondents", "chỉ người được mời trả lời / only the invited answer"),
    ("Câu trả lời (gồm tuổi, giới tính, dân tộc, học vấn, nghề nghiệp) / answers (incl. age, sex, ethnicity, "
     "education, occupation)", "answers", "thống kê chỉ số hài lòng / the satisfaction indices"),
    ("Ý kiến tự do (đã che SĐT, email, CCCD, tên) / free text (phones, e-mails, IDs, own name masked)", "answers",
     "thống kê / statistics"),
    ("Thời điểm trả lời (dữ liệu quá trình) / answer times (paradata)", "response_steps",
     "kiểm tra chất lượng / quality checks"),
    ("Biên nhận đồng ý / consent receipts", "consent_receipts", "chứng minh sự đồng ý / proof of consent"),
]

SAFEGUARDS = [
    "Dữ liệu liên hệ tách khỏi câu trả lời; phân tích không đọc bảng liên hệ / contact data apart from answers; "
    "analytics never reads it",
    "Ý kiến tự do được che SĐT, email, CCCD, tên trước khi lưu / free text masked before it is stored",
    "Xuất bản công khai: nhóm tuổi, ngày nộp, số thứ tự không liên kết, kiểm tra k-ẩn danh / public exports: "
    "age bands, dates, unlinkable record numbers, k-anonymity check",
    "Dữ liệu chi tiết chỉ cho vai trò phân tích, có cảnh báo / full detail for the analyst role only, with a warning",
    "Xóa hẳn sau khi đợt và phúc tra kết thúc (secure_delete, VACUUM, WAL) / purge after the round and "
    "re-check (secure_delete, VACUUM, WAL truncated)",
    "Tệp cơ sở dữ liệu chỉ chủ sở hữu đọc được (0600) / the database file is owner-only (0600)",
    "Không ghi mã chat, mã bí mật vào nhật ký máy / no chat id or secret in the logs",
    "Nhật ký kiểm toán: xuất dữ liệu, xóa, yêu cầu của người dân / audit log of exports, purges, requests",
    "Quyền của người dân ngay trong chat: /dulieu, /xoa / the citizen's rights in the chat: /dulieu, /xoa",
]


@dataclass
class PrivacyFacts:
    round_code: str
    round_name: str
    status: str
    survey: str
    opened_at: float | None
    closed_at: float | None
    channels: dict[str, int] = field(default_factory=dict)       # channel → responses
    bound: dict[str, int] = field(default_factory=dict)          # channel → chats still bound
    counts: dict[str, int] = field(default_factory=dict)
    consent: list[tuple[str, str, str]] = field(default_factory=list)   # lang, version, text hash
    receipts: dict[str, int] = field(default_factory=dict)
    requests: dict[tuple[str, str], int] = field(default_factory=dict)
    overdue: int = 0
    exports: dict[str, int] = field(default_factory=dict)
    retention_days: float = DEFAULT_RETENTION_DAYS
    purged_at: float | None = None
    blockers: list[str] = field(default_factory=list)


async def gather(db: Database, round_code: str, at: float | None = None) -> PrivacyFacts:
    """What the database knows about a round's processing of personal data."""
    at = now() if at is None else at
    r = await db.fetchone("SELECT id, code, name, status, survey_id, survey_hash, opened_at, closed_at, settings"
                          " FROM rounds WHERE code = ?", (round_code.strip(),))
    if r is None:
        raise StorageError(f"không có đợt khảo sát {round_code!r} / no round {round_code!r}")
    rid = r[0]
    version = await db.fetchval("SELECT version FROM survey_versions WHERE hash = ?", (r[5],))
    f = PrivacyFacts(r[1], r[2], r[3], f"{r[4]} {version} ({r[5][:12]}…)", r[6], r[7])
    days = loads_obj(r[8]).get(RETENTION_KEY)
    f.retention_days = DEFAULT_RETENTION_DAYS if days is None else days
    for ch, n in await db.fetchall("SELECT COALESCE(CASE WHEN mode = 'paper' THEN 'paper' END, channel, '?'),"
                                   " COUNT(*) FROM responses WHERE round_id = ? GROUP BY 1", (rid,)):
        f.channels[ch] = n
    for ch, n in await db.fetchall("SELECT b.channel, COUNT(*) FROM chat_bindings AS b JOIN respondents AS p"
                                   " ON p.id = b.respondent_id WHERE p.round_id = ? GROUP BY 1", (rid,)):
        f.bound[ch] = n
        f.channels.setdefault(ch, 0)
    for ch, in await db.fetchall("SELECT DISTINCT channel FROM outbox WHERE round_id = ?", (rid,)):
        f.channels.setdefault(ch, 0)
    one = "SELECT COUNT(*) FROM {t} AS x JOIN respondents AS p ON p.id = x.respondent_id WHERE p.round_id = ?"
    f.counts = {
        "respondents": await db.fetchval("SELECT COUNT(*) FROM respondents WHERE round_id = ?", (rid,)),
        "contacts": await db.fetchval(one.format(t="contacts"), (rid,)),
        "phones": await db.fetchval(one.format(t="contacts") + " AND x.phone IS NOT NULL", (rid,)),
        "responses": await db.fetchval("SELECT COUNT(*) FROM responses WHERE round_id = ?", (rid,)),
        "submitted": await db.fetchval("SELECT COUNT(*) FROM responses WHERE round_id = ? AND status = 'submitted'",
                                       (rid,)),
    }
    f.consent = [(x[0], x[1], x[2]) for x in await db.fetchall(
        "SELECT lang, version, text_hash FROM consent_texts WHERE survey_hash = ? ORDER BY lang = 'vi' DESC, lang",
        (r[5],))]
    f.receipts = await receipt_counts(db, rid)
    for kind, status, n in await db.fetchall("SELECT kind, status, COUNT(*) FROM privacy_requests WHERE round_id = ?"
                                             " GROUP BY 1, 2", (rid,)):
        f.requests[(kind, status)] = n
    f.overdue = await db.fetchval("SELECT COUNT(*) FROM privacy_requests WHERE round_id = ? AND status = 'open'"
                                  " AND due_at < ?", (rid, at))
    for details, in await db.fetchall("SELECT details FROM audit_log WHERE round_id = ? AND action = 'export'",
                                      (rid,)):
        level = loads_obj(details).get("detail") or "report"
        f.exports[level] = f.exports.get(level, 0) + 1
    f.purged_at = await db.fetchval("SELECT purged_at FROM round_purges WHERE round_id = ?", (rid,))
    f.blockers = await db.read(lambda conn: blockers_op(conn, rid))
    return f


def _day(at: float | None) -> str:
    return "—" if at is None else dt.datetime.fromtimestamp(at, _TZ).strftime("%d/%m/%Y")


def render_markdown(f: PrivacyFacts) -> str:
    """The draft annex, Markdown, Vietnamese with English."""
    out: list[str] = [
        f"# Phụ lục đánh giá tác động xử lý dữ liệu cá nhân — đợt {f.round_code}",
        f"# Personal data processing impact assessment annex — round {f.round_code}", "",
        "_Bản nháp do hailong lập từ cấu hình và cơ sở dữ liệu; cán bộ pháp chế của Sở rà soát trước khi nộp. "
        "Căn cứ: Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15, Nghị định 356/2025/NĐ-CP. / A draft built by hailong "
        "from its configuration and database; the Department's legal officer reviews it before filing._", "",
        "## 1. Bên kiểm soát và hoạt động xử lý / Controller and processing", "",
        "- Bên kiểm soát dữ liệu / controller: Sở Nội vụ tỉnh Lai Châu (Department of Home Affairs, Lai Châu)",
        f"- Đợt / round: {f.round_code} {f.round_name}".rstrip() + f" — trạng thái / status: {f.status}",
        f"- Bảng hỏi / questionnaire: {f.survey}",
        f"- Thời gian / period: {_day(f.opened_at)} – {_day(f.closed_at)}",
        f"- Người được chọn / sampled: {f.counts['respondents']}; có liên hệ / with contact data: "
        f"{f.counts['contacts']} (số điện thoại / phones: {f.counts['phones']}); phiếu / responses: "
        f"{f.counts['responses']} (nộp / submitted: {f.counts['submitted']})", "",
        "## 2. Mục đích / Purpose", "",
        "Đánh giá sự hài lòng của người dân đối với sự phục vụ của cơ quan hành chính nhà nước (SIPAS) và cải thiện "
        "sự phục vụ. Không dùng cho mục đích khác, không chia sẻ cho bên thứ ba. / Measure citizens' satisfaction "
        "with state administrative agencies (SIPAS) and improve their service; no other purpose, no third party.", "",
        "## 3. Dữ liệu xử lý / Data processed", "",
        "| Dữ liệu / data | Lưu ở / stored in | Mục đích / purpose |", "|---|---|---|"]
    out += [f"| {a} | `{b}` | {c} |" for a, b, c in DATA_ITEMS]
    out += ["", "## 4. Kênh và chuyển dữ liệu ra nước ngoài / Channels and cross-border transfer", "",
            "| Kênh / channel | Nhà cung cấp / operator | Phiếu / responses | Chat còn liên kết / chats bound |"
            " Chuyển ra nước ngoài / cross-border |", "|---|---|---|---|---|"]
    abroad = []
    for ch in sorted(f.channels, key=lambda c: (c not in CHANNELS, c)):
        name, operator, foreign = CHANNELS.get(ch, (ch, "chưa rõ / unknown", False))
        if foreign:
            abroad.append(name)
        out.append(f"| {name} | {operator} | {f.channels[ch]} | {f.bound.get(ch, 0)} | "
                   f"{'**CÓ / YES**' if foreign else 'không / no'} |")
    out.append("")
    if abroad:
        out.append(f"**{', '.join(abroad)} là nền tảng nước ngoài: mã chat và mọi câu trả lời gõ trong chat đi qua máy "
                   f"chủ ngoài Việt Nam, tức là chuyển dữ liệu cá nhân ra nước ngoài; cần hồ sơ đánh giá tác động chuyển "
                   f"dữ liệu ra nước ngoài (xem Luật 91/2025/QH15). / {', '.join(abroad)} is a foreign platform: chat ids "
                   f"and every answer typed in the chat pass through servers outside Vietnam — a cross-border transfer "
                   f"of personal data; a transfer impact assessment is needed (see Law 91/2025/QH15).**")
    else:
        out.append("Không kênh nào của đợt này chuyển dữ liệu ra nước ngoài. / No channel of this round transfers "
                   "data abroad.")
    out += ["", "## 5. Sự đồng ý / Consent", ""]
    for lang, version, h in f.consent:
        out.append(f"- Thông báo ({lang}) phiên bản / notice version {version}, sha256 `{h[:16]}…` "
                   "(`hailong privacy consent --round " + f.round_code + "` in nguyên văn / prints the text)")
    if not f.consent:
        out.append("- **Bảng hỏi không có bước đồng ý có thông báo đầy đủ / the questionnaire has no consent notice**")
    out.append(f"- Biên nhận / receipts: đồng ý / agreed {f.receipts.get('agreed', 0)}, không đồng ý / refused "
               f"{f.receipts.get('refused', 0)}, phiếu không có biên nhận / responses without one "
               f"{f.receipts.get('none', 0)}")
    due = None if f.closed_at is None else f.closed_at + f.retention_days * DAY
    out += ["", "## 6. Thời hạn lưu trữ và xóa / Retention and deletion", "",
            f"- Thời hạn / retention: {f.retention_days:g} ngày sau khi đóng đợt / days after the round closes "
            f"(hạn xóa / purge due: {_day(due)})",
            "- Đã xóa dữ liệu cá nhân / purged: " + (_day(f.purged_at) if f.purged_at else "chưa / not yet")]
    if not f.purged_at and f.blockers:
        out.append("- Chưa xóa được vì / cannot purge yet: " + "; ".join(f.blockers))
    out += ["- Giữ lại / kept: tình trạng phiếu, câu trả lời đã khử nhận dạng, kết quả phúc tra, biên nhận đồng ý, "
            "nhật ký / dispositions, de-identified answers, re-check outcomes, consent receipts, audit log", "",
            "## 7. Biện pháp bảo vệ / Safeguards", ""]
    out += [f"- {s}" for s in SAFEGUARDS]
    out += ["", "## 8. Yêu cầu của chủ thể dữ liệu / Data subject requests", ""]
    if f.requests:
        for (kind, status), n in sorted(f.requests.items()):
            out.append(f"- {kind} / {status}: {n}")
    else:
        out.append("- Chưa có yêu cầu / none yet")
    out.append(f"- Quá hạn (15 ngày) / overdue (15 days): {f.overdue}")
    out += ["", "## 9. Xuất dữ liệu / Exports (nhật ký / audit log)", ""]
    out += [f"- {k}: {v}" for k, v in sorted(f.exports.items())] or ["- Chưa xuất / none"]
    out += ["", "## 10. Rủi ro còn lại, cần rà soát / Residual risks to review", "",
            "- Tên người khác (không phải người trả lời) gõ trong ý kiến tự do không nhận ra được: ý kiến tự do không "
            "công bố trong dữ liệu thô / names of other people typed in free text cannot be recognised: free text is "
            "never in the raw-data export",
            "- Bản sao lưu tạo trước khi xóa nằm ngoài hailong: phải hủy theo cùng thời hạn / backups made before the "
            "purge are outside hailong and must expire on the same schedule",
            "- Số điều khoản cụ thể về hạn xử lý yêu cầu, đánh giá tác động, chuyển ra nước ngoài: xem Luật "
            "91/2025/QH15 và Nghị định 356/2025/NĐ-CP / article numbers for request deadlines, impact assessment "
            "and transfers: see Law 91/2025/QH15 and Decree 356/2025/NĐ-CP", ""]
    return "\n".join(out)


def facts_dict(f: PrivacyFacts) -> dict[str, Any]:
    """The facts as plain data (for tests and a JSON copy)."""
    return {"round": f.round_code, "channels": f.channels, "cross_border": sorted(
        c for c in f.channels if CHANNELS.get(c, ("", "", False))[2]), "counts": f.counts,
        "purged_at": f.purged_at, "overdue": f.overdue}
