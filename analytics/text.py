"""Vietnamese text helpers for analytics output: alphabetical order and label lookup.

Python's default ``sorted`` puts "Đ" after "Z" and "Â" after "A...z"; official lists (and every
table an analyst reads) use the Vietnamese alphabet a ă â b c d đ e ê g h i k l m n o ô ơ p q r s
t u ư v x y, with tone marks as a secondary difference and numbers compared as numbers
("Tổ dân phố số 2" before "số 10").
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_ALPHABET = "aăâbcdđeêghiklmnoôơpqrstuưvxy"
_ORDER = {ch: i for i, ch in enumerate(_ALPHABET)}
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}  # huyền hỏi ngã sắc nặng
_MODIFIERS = {("a", "\u0306"): "ă", ("a", "\u0302"): "â", ("e", "\u0302"): "ê",
              ("o", "\u0302"): "ô", ("o", "\u031b"): "ơ", ("u", "\u031b"): "ư"}
_NUM = re.compile(r"(\d+)")

try:
    from sampling.collation import vi_sort_key as _vi_sort_key
except ImportError:  # pragma: no cover - sampling ships with hailong
    _vi_sort_key = None


def _letters(word: str) -> tuple[list[tuple[int, int]], list[int]]:
    base: list[tuple[int, int]] = []
    tones: list[int] = []
    for ch in unicodedata.normalize("NFD", word.lower()):
        if ch in _TONES:
            tones.append(_TONES[ch])
            continue
        if base and (chr(base[-1][1]), ch) in _MODIFIERS:
            letter = _MODIFIERS[(chr(base[-1][1]), ch)]
            base[-1] = (_ORDER[letter], ord(letter))
            continue
        if unicodedata.combining(ch):
            continue
        if ch == "đ":
            base.append((_ORDER["đ"], ord("đ")))
        elif ch in _ORDER:
            base.append((_ORDER[ch], ord(ch)))
        else:
            base.append((100 + ord(ch), ord(ch)))
        tones.append(0)
    return base, tones


def vi_key(text: Any) -> tuple:
    """Sort key in Vietnamese alphabetical order; None/NaN sort last; digits compare numerically.

    Uses the project's collation (``sampling.collation``, CLDR tone order) so analytics tables and
    sampling lists agree; the small fallback below only serves if that module is unavailable.
    """
    if text is None or (isinstance(text, float) and text != text):
        return (1, ())
    s = str(text)
    if _vi_sort_key is not None:
        return (0, _vi_sort_key(s))
    primary: list[tuple] = []
    secondary: list[tuple] = []
    for part in _NUM.split(s):
        if not part:
            continue
        if part.isdigit():
            primary.append((0, int(part)))
            continue
        base, tones = _letters(part)
        primary.append((1, tuple(b for b, _ in base)))
        secondary.append(tuple(tones))
    return (0, tuple(primary), tuple(secondary), s)


def label(text: dict[str, str] | None, lang: str = "vi") -> str:
    """The text in ``lang`` (falling back to Vietnamese, then to any language)."""
    if not text:
        return ""
    return text.get(lang) or text.get("vi") or next(iter(text.values()))
