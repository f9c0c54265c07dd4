"""The consent step of a questionnaire: which question it is and the exact text a citizen sees.

Law 91/2025/QH15 asks for consent that is voluntary and informed: the notice names the
controller, the purpose, the data kept, how long, and the person's rights; nothing is ticked in
advance and silence is not consent. In a hailong questionnaire the consent step is the
yes/no question with the id ``q_consent`` (the id is fixed: the receipt trigger of migration 0011
recognises the step by it at no cost to other answers); its text and help, in each language, are
the notice. The engine never answers it for the citizen: the survey goes on only after an
explicit "Có/Yes" and ends politely on "Không/No".

The consent text is versioned with the questionnaire (``Survey.version``; a changed text changes
the content hash, so a round keeps the exact text its citizens saw), and each answer to it leaves
a receipt (``storage.consent``).
"""

from __future__ import annotations

import hashlib

from survey_defs.schema import Question, QuestionType, Survey

CONSENT_STEP = "q_consent"

#: What a notice must cover, with words that show it does, per language (checked for the shipped
#: questionnaires by tests/storage/test_privacy_consent.py; a checklist for authors of new ones).
REQUIRED_ELEMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "vi": {"controller": ("Sở Nội vụ",), "purpose": ("mục đích",), "data": ("dữ liệu",),
           "retention": ("xóa", "thời hạn"), "rights": ("quyền", "/dulieu", "/xoa"),
           "law": ("Luật Bảo vệ dữ liệu cá nhân",)},
    "en": {"controller": ("Department of Home Affairs",), "purpose": ("purpose",), "data": ("data",),
           "retention": ("deleted", "how long"), "rights": ("rights", "/mydata", "/delete"),
           "law": ("Law on Personal Data Protection",)},
}


def consent_question(survey: Survey) -> Question | None:
    """The consent question: the yes/no question ``q_consent`` (None if the questionnaire has none)."""
    q = survey.question_by_id.get(CONSENT_STEP)
    return q if q is not None and q.type is QuestionType.yesno else None


def consent_text(survey: Survey, lang: str) -> str | None:
    """The exact notice shown in ``lang`` (question text, then its help if any), or None."""
    q = consent_question(survey)
    if q is None:
        return None
    parts = [q.text.get(lang) or q.text.get("vi") or next(iter(q.text.values()), "")]
    if q.help:
        parts.append(q.help.get(lang) or q.help.get("vi") or "")
    return "\n".join(p for p in parts if p)


def consent_hash(text: str) -> str:
    """sha256 of the notice's UTF-8 text (what a receipt records)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def missing_elements(survey: Survey) -> dict[str, list[str]]:
    """language → elements of ``REQUIRED_ELEMENTS`` the notice does not mention (empty: complete)."""
    out: dict[str, list[str]] = {}
    for lang in survey.languages:
        text = (consent_text(survey, lang) or "").lower()
        words = REQUIRED_ELEMENTS.get(lang, REQUIRED_ELEMENTS["en"])
        miss = [el for el, keys in words.items() if not any(k.lower() in text for k in keys)]
        if miss:
            out[lang] = miss
    return out
