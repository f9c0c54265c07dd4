"""Free text without identities: phone numbers, e-mail addresses, ID-card numbers and the
respondent's own name are masked before a free-text answer is stored (docs/privacy.md).

Citizens write "Tôi là Nguyễn Văn A, sđt 0912 345 678" into "Ý kiến khác". The analysis tables
(``answers``, ``answers_current``) therefore receive the masked text only, and the original is
never written to the database: the choice documented in docs/privacy.md ("kept only until purge,
if at all" — here: not at all). The purge (``storage.purge``) masks stored free text again, for
answers that reached the database another way (paper imports, older versions).

What counts (Vietnamese formats):

- phones: a 0 or +84/84 prefix, then 9 digits (mobiles 03x, 05x, 07x, 08x, 09x) or 10 digits
  (landlines 02xx), with spaces, dots, dashes or brackets anywhere between digits. Amounts
  ("1.500.000 đồng"), years ("2024"), ages and counts never start with 0 or +84 and are not
  touched; a run of digits of another length is not a phone.
- ID cards: a 12-digit number (CCCD, spaced or not) always; a 9-digit one (old CMND) when an ID
  word (CMND, CCCD, căn cước, chứng minh, CMT) comes shortly before it.
- e-mail addresses, including "[at]"/"(a)" spellings.
- the respondent's own name: the full name or any two or more consecutive words of it, in any
  case and with or without diacritics ("nguyen van a").

Unicode tricks are undone before matching: full-width and other scripts' digits count as digits,
zero-width characters and soft hyphens are removed (the stored text is the cleaned one).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence

from engine.types import AnswerSet, Event
from survey_defs.schema import QuestionType, Survey

PHONE = "[SĐT]"
EMAIL = "[email]"
ID_CARD = "[CCCD]"
NAME = "[tên]"

#: Longest free text masked (characters); longer input is cut here first (the questionnaire's
#: own limit is far lower: 2 000 for "Ý kiến khác").
MAX_TEXT = 20_000

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u200e\u200f\u202a\u202b\u202c"
                                    "\u202d\u202e\u2066\u2067\u2068\u2069"), None)
_SEP = r"[ \t.\-‐‑–—()\u00a0\u202f/]{0,3}"
# A digit run with separators: starts at a non-digit boundary, 9 to 13 digits in all.
_PHONE_RE = re.compile(rf"(?<![0-9])(?:\(\s?\+?\s?(?=8)|\+\s?)?[0-9](?:{_SEP}[0-9]){{8,12}}(?![0-9])")
_ID12_RE = re.compile(rf"(?<![0-9])(?:[0-9]{_SEP}){{11}}[0-9](?![0-9])")
_ANY_DIGIT = re.compile(r"[0-9]")
_AT_WORD = re.compile(r"[\[(]a(?:t)?[\])]", re.IGNORECASE)
_ID9_RE = re.compile(r"(?<![0-9])[0-9]{9}(?![0-9])")
_ID_WORDS = re.compile(r"(cmnd|cccd|cmt|can cuoc|chung minh|so dinh danh|\bid\b)", re.IGNORECASE)
_EMAIL_RE = re.compile(
    r"[\w.+\-]{1,64}\s?(?:@|\[at\]|\(at\)|\(a\)|\[a\])\s?[\w\-]{1,63}(?:\s?(?:\.|\[dot\]|\(dot\))\s?[\w\-]{1,63})+",
    re.IGNORECASE)


def _digit_table() -> dict[int, str]:
    """Every non-ASCII decimal digit (full-width, Arabic-Indic, Devanagari…) → its ASCII digit."""
    table: dict[int, str] = {}
    for start, end in ((0x80, 0x10000), (0x1D7CE, 0x1D800), (0x1FBF0, 0x1FBFA)):
        for cp in range(start, end):
            ch = chr(cp)
            if ch.isdecimal():
                table[cp] = str(unicodedata.decimal(ch))
    return table


def _fold_table() -> dict[int, str]:
    """Latin letters (ASCII, Latin-1, Extended-A/B, Vietnamese) → lower case without diacritics,
    one character for one, so that positions in the folded text are positions in the text."""
    table: dict[int, str] = {ord("đ"): "d", ord("Đ"): "d"}
    for start, end in ((0x41, 0x5B), (0xC0, 0x250), (0x1E00, 0x1F00)):
        for cp in range(start, end):
            base = unicodedata.normalize("NFD", chr(cp))[0].lower()
            if len(base) == 1 and base != chr(cp):
                table.setdefault(cp, base)
    return table


_DIGITS = _digit_table()
_FOLD = _fold_table()


def clean(text: str) -> str:
    """NFC, invisible characters removed, every decimal digit as an ASCII digit."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    return text if text.isascii() else text.translate(_DIGITS)


def fold(text: str) -> str:
    """Lower case without diacritics, one character for one (positions stay the same)."""
    return text.translate(_FOLD)


def is_phone_digits(digits: str) -> bool:
    """A Vietnamese phone number once separators are gone (with 0, 84 or +84 in front)."""
    if digits.startswith("84") and len(digits) in (11, 12):
        digits = "0" + digits[2:]
    if not digits.startswith("0"):
        return False
    if len(digits) == 10:
        return digits[1] in "35789"
    return len(digits) == 11 and digits[1] == "2"


def _mask_phones(text: str) -> tuple[str, int]:
    count = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal count
        run = m.group(0)
        ends = [i + 1 for i, ch in enumerate(run) if ch.isdigit()]   # after the k-th digit
        digits = "".join(ch for ch in run if ch.isdigit())
        for n in (12, 11, 10):                                        # the longest phone in front
            if len(digits) >= n and is_phone_digits(digits[:n]):
                count += 1
                return PHONE + run[ends[n - 1]:]
        return run

    return _PHONE_RE.sub(repl, text), count


def _mask_ids(text: str) -> tuple[str, int]:
    count = 0

    def twelve(m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return ID_CARD

    text = _ID12_RE.sub(twelve, text)

    def nine(m: re.Match[str]) -> str:
        nonlocal count
        before = fold(text[max(0, m.start() - 40):m.start()])
        if _ID_WORDS.search(before):
            count += 1
            return ID_CARD
        return m.group(0)

    return _ID9_RE.sub(nine, text), count


@functools.lru_cache(maxsize=4096)
def _name_patterns(name: str) -> list[re.Pattern[str]]:
    words = [w for w in re.split(r"[\s,.;]+", fold(clean(name))) if w]
    spans = sorted({tuple(words[i:j]) for i in range(len(words)) for j in range(i + 2, len(words) + 1)},
                   key=len, reverse=True)
    if len(words) == 1 and len(words[0]) >= 3:
        spans = [(words[0],)]
    return [re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, s)) + r"(?!\w)") for s in spans]


def _mask_name(text: str, names: Iterable[str]) -> tuple[str, int]:
    count = 0
    for name in names:
        if not name or not name.strip():
            continue
        folded = fold(text)
        for pat in _name_patterns(name):
            hits = list(pat.finditer(folded))
            if not hits:
                continue
            for m in reversed(hits):
                text = text[:m.start()] + NAME + text[m.end():]
            count += len(hits)
            folded = fold(text)
    return text, count


def mask_text(text: str, names: Iterable[str] = ()) -> tuple[str, dict[str, int]]:
    """``text`` with identities masked, and how many of each kind were masked."""
    text = clean(text[:MAX_TEXT])
    counts: dict[str, int] = {}
    if "@" in text or _AT_WORD.search(text):       # the regular expressions only where they can match
        text, counts["email"] = _EMAIL_RE.subn(EMAIL, text)
    if _ANY_DIGIT.search(text):
        text, counts["id_card"] = _mask_ids(text)  # before phones: a CCCD may begin like a mobile
        text, counts["phone"] = _mask_phones(text)
    text, counts["name"] = _mask_name(text, names)
    return text, {k: v for k, v in counts.items() if v}


def mask(text: str, names: Iterable[str] = ()) -> str:
    """``text`` with phones, e-mails, ID-card numbers and the given names masked."""
    return mask_text(text, names)[0]


# ------------------------------------------------------------------ answers on their way to storage

def text_steps(survey: Survey) -> frozenset[str]:
    """Ids of the questionnaire's free-text questions (cached on the survey object's hash)."""
    found = _TEXT_STEPS.get(survey.content_hash)
    if found is None:
        found = frozenset(q.id for q in survey.questions if q.type is QuestionType.text)
        _TEXT_STEPS[survey.content_hash] = found
    return found


_TEXT_STEPS: dict[str, frozenset[str]] = {}


def has_text(events: Sequence[Event]) -> bool:
    """Whether any event sets a string answer (free text; option codes that are strings are
    left as they are by ``mask``). The common case, none, costs one scan."""
    return any(type(e) is AnswerSet and type(e.value) is str for e in events)

