"""Understanding what citizens type: folding Vietnamese text and recognising typed commands.

Citizens type on phones, often without a Vietnamese keyboard, so "Hài Lòng", "hai long" and
"HAI LONG" must all mean the same thing. :func:`fold` removes what varies between those forms
(Unicode normalisation form, tone marks and other diacritics, đ/Đ, case, repeated spaces);
:func:`answer_key` additionally turns punctuation into spaces so "4." and "hài lòng!" match.

:func:`parse_typed` turns a typed message into an engine input: a :class:`~engine.types.Command`
for control phrases in Vietnamese or English ("quay lại", "tạm dừng", "/back", "/lang en"…),
:class:`~engine.types.Start` for "/start", otherwise the :class:`~engine.types.TypedText`
itself. The engine applies it to every ``TypedText`` it receives (with the current step's context,
see ``free_text``), so a channel may simply forward raw text; channels may also call it first.

Collisions matter: stripping tone marks makes "dừng" (stop) and "đúng" (right/correct) both
"dung", so destructive commands are matched on the accented form only; see ``_ACCENTED``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from engine.types import Command, Input, Start, TypedText

__all__ = ["fold", "answer_key", "parse_typed", "DONE_WORDS", "SUBMIT_WORDS", "clean_text"]

_WS = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]|_")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")


def _fold_uncached(text: str) -> str:
    s = unicodedata.normalize("NFKD", text)
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    s = s.replace("đ", "d").replace("Đ", "d").casefold()
    return _WS.sub(" ", s).strip()


_fold_cached = lru_cache(maxsize=8192)(_fold_uncached)


def fold(text: str) -> str:
    """Tone-, case- and form-insensitive form: "Hài  Lòng" -> "hai long", "ĐÚNG" -> "dung".

    Short strings (what people answer) are memoised, long ones folded directly so a 10 000
    character message cannot flood the cache.
    """
    if len(text) <= 64:
        return _fold_cached(text)
    return _fold_uncached(text)


def _answer_key_uncached(text: str) -> str:
    f = fold(text)
    if f.isalnum():
        return f
    return _WS.sub(" ", _PUNCT.sub(" ", f)).strip()


_answer_key_cached = lru_cache(maxsize=8192)(_answer_key_uncached)


def answer_key(text: str) -> str:
    """:func:`fold` with punctuation turned into spaces: the key typed answers are matched on.

    Memoised like :func:`fold` for short strings (every typed answer is keyed once per step)."""
    if len(text) <= 64:
        return _answer_key_cached(text)
    return _answer_key_uncached(text)


def _accented(text: str) -> str:
    """Case- and form-insensitive but keeping diacritics: tells "dừng" from "đúng"."""
    s = unicodedata.normalize("NFC", text).casefold()
    s = _WS.sub(" ", s).strip()
    return s.strip(" .!?…")


def clean_text(text: str) -> str:
    """A free-text answer as stored: NFC, invisible control characters removed, trimmed."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", text)).strip()


# Words that finish a multiple-choice step (the "Xong" button typed), folded.
DONE_WORDS: frozenset[str] = frozenset({"xong", "done", "ok", "xong roi", "het", "finish", "/done", "/xong"})
# Words that submit from the review, folded.
SUBMIT_WORDS: frozenset[str] = frozenset({"gui", "gui phieu", "gui di", "nop", "nop phieu", "submit", "send"})

# Answers to "is that right?" before a screening answer ends the survey, folded. "1"/"2" follow
# the order of the buttons (Đúng, Không); a number that is neither is taken as a new answer.
CONFIRM_YES: frozenset[str] = frozenset({"1", "co", "dung", "dung roi", "dung vay", "phai", "yes", "y", "right",
                                         "correct", "vang", "da", "u", "ok"})
CONFIRM_NO: frozenset[str] = frozenset({"2", "khong", "khong phai", "sai", "nham", "go nham", "no", "n", "wrong",
                                        "sua", "sua lai", "tra loi lai", "change"})

# Folded phrase -> (command, arg). Safe after tone stripping (no collision with an answer word).
_FOLDED: dict[str, tuple[str, str | None]] = {
    "quay lai": ("back", None), "tro lai": ("back", None), "lui lai": ("back", None),
    "back": ("back", None), "go back": ("back", None), "cau truoc": ("back", None),
    "tam dung": ("pause", None), "tam ngung": ("pause", None), "pause": ("pause", None),
    "de sau": ("pause", None), "lat nua": ("pause", None),
    "tiep tuc": ("resume", None), "continue": ("resume", None), "resume": ("resume", None),
    "lam tiep": ("resume", None),
    "tro giup": ("help", None), "huong dan": ("help", None), "help": ("help", None),
    "giup do": ("help", None), "?": ("help", None),
    "dung lai": ("stop", None), "stop": ("stop", None), "huy khao sat": ("stop", None),
    "khong tham gia nua": ("stop", None), "quit": ("stop", None),
    "xem lai": ("review", None), "review": ("review", None),
    "bo qua": ("skip", None), "skip": ("skip", None),
    "tieng anh": ("lang", "en"), "english": ("lang", "en"),
    "tieng viet": ("lang", "vi"), "vietnamese": ("lang", "vi"),
}
for _w in SUBMIT_WORDS:
    _FOLDED.setdefault(_w, ("submit", None))
# Accented-only phrases: their folded form collides with ordinary words ("dung" = đúng).
_ACCENTED: dict[str, tuple[str, str | None]] = {"dừng": ("stop", None)}

# Slash commands (Telegram style, also typed in the console and Zalo).
_SLASH: dict[str, str] = {
    "back": "back", "quaylai": "back", "pause": "pause", "tamdung": "pause",
    "continue": "resume", "resume": "resume", "tieptuc": "resume", "help": "help", "trogiup": "help",
    "stop": "stop", "dung": "stop", "lang": "lang", "language": "lang", "review": "review",
    "xemlai": "review", "submit": "submit", "gui": "submit", "edit": "edit", "sua": "edit",
    "skip": "skip", "boqua": "skip",
}
_EDIT = re.compile(r"^(?:sua|edit|sua cau|edit question|/sua|/edit)\s+(?:cau\s+|question\s+)?(\S{1,64})$")


def parse_typed(text: str, *, free_text: bool = False) -> Input:
    """A typed message as an engine input: a command, ``Start`` or the text itself.

    ``free_text=True`` (the engine sets it while a free-text question is open) recognises only
    slash commands and a message that is exactly a skip word («bỏ qua», "skip"), so an open
    comment such as "Quay lại sau nhé" is kept as an answer.
    Never raises; an over-long message is never a command.
    """
    if not isinstance(text, str) or len(text) > 200:
        return TypedText(text if isinstance(text, str) else "")
    if len(text) <= 64:
        return _parse_cached(text, free_text)
    return _parse(text, free_text)


def _parse(text: str, free_text: bool) -> Input:
    stripped = text.strip()
    if stripped.startswith("/"):
        head, _, rest = stripped[1:].partition(" ")
        name = fold(head.split("@", 1)[0]).replace(" ", "")
        arg = rest.strip() or None
        if name == "start":
            return Start()
        if name in ("en", "vi"):
            return Command("lang", name)
        cmd = _SLASH.get(name)
        if cmd is not None:
            if cmd == "lang" and arg is not None:
                arg = fold(arg)[:8]
            elif cmd not in ("edit",):
                arg = None
            return Command(cmd, arg)  # type: ignore[arg-type]
        return TypedText(text)
    if free_text:
        # only a message that is nothing but a skip word is the command: the optional hint tells
        # Zalo and console users to type «bỏ qua», and no comment consists of that alone
        if _FOLDED.get(answer_key(stripped)) == ("skip", None):
            return Command("skip")
        return TypedText(text)
    hit = _ACCENTED.get(_accented(stripped))
    if hit is not None:
        return Command(hit[0], hit[1])  # type: ignore[arg-type]
    key = answer_key(stripped) if stripped != "?" else "?"
    hit = _FOLDED.get(key)
    if hit is not None:
        return Command(hit[0], hit[1])  # type: ignore[arg-type]
    m = _EDIT.match(fold(stripped))
    if m:
        return Command("edit", m.group(1))
    return TypedText(text)


# Inputs are frozen dataclasses, so the parse of a short message can be shared safely.
_parse_cached = lru_cache(maxsize=4096)(_parse)
