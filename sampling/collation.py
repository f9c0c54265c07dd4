"""Vietnamese alphabetical order (thứ tự chữ cái tiếng Việt) for sorting unit and village names.

Every "the 2nd in the list" rule of the sampling plans depends on the order of a list of names, and
Python's default ``sorted`` gets Vietnamese wrong: it compares code points, so "Đ" (U+0110) sorts
after "Z", "Ă"/"Â" after every other letter, and "Tổ dân phố số 10" before "số 2". This module
implements the order used by Vietnamese dictionaries and by administrative lists.

The convention, level by level (as in the Unicode Collation Algorithm, UTS #10):

1. **Primary — the letters.** The 29-letter alphabet
   ``a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x y``; the Latin letters that appear
   only in loan words and ethnic-minority names are put at their Latin places
   (f after ê, j after i, w after v, z after y). Runs of digits compare as numbers
   ("Tổ dân phố số 2" < "số 10"), and any number sorts before any letter. Spaces, hyphens and
   punctuation are word separators; a word separator sorts before any letter, so comparison is
   word by word ("Nà Lại" < "Nàng"), as in dictionaries.
2. **Secondary — the tones (dấu thanh).** Order: no mark (ngang), huyền (grave), hỏi (hook),
   ngã (tilde), sắc (acute), nặng (dot below). This is the CLDR Vietnamese tailoring
   (Unicode CLDR ``common/collation/vi.xml``, rule ``&̀<<̉<<̃<<́<<̣``: grave << hook << tilde <<
   acute << dot below, tones as a secondary difference) and the order of the Vietnamese dictionary
   of the Institute of Linguistics (Hoàng Phê, *Từ điển tiếng Việt*). A tone is a property of a
   syllable, so the tone is compared per syllable, wherever it is written: the old and new tone
   placements "Hoà" and "Hòa" are equal at this level (both spellings occur in official lists).
3. **Tertiary — case.** Lower case before upper case (CLDR's default), then leading zeros
   ("số 2" before "số 02").

The primary letters with a vowel-modifier (ă, â, ê, ô, ơ, ư) and đ are distinct letters, not
accented variants: "Đ" comes after every "D…", "ơ" after every "ô…". Input in NFC or NFD compares
identically.

**Multi-letter consonants.** Traditional dictionaries treat ch, gh, gi, kh, ng, ngh, nh, ph, qu,
th, tr as single letters (CLDR ``vi-u-co-traditional``: c < ch < d, g < gh < gi < h, k < kh < l,
n < ng < ngh < nh < o, p < ph < q, q < qu < r, t < th < tr < u), so every "ch…" word sorts after
every "c…" word. Official administrative lists (lists of communes and villages issued by the
provincial and commune People's Committees, and the General Statistics Office's list of
administrative units) sort letter by letter, so the default is ``digraphs=False``; pass
``digraphs=True`` for the dictionary order. Digraphs are recognised only at the start of a
syllable, where Vietnamese initials are; final ch/ng/nh order the same either way.

The sort key is a tuple ``(primary, secondary, tertiary, nfc_text)``: the NFC text is a final
tie-breaker so that the order is total and never depends on the input order (the sampling rules
must be reproducible from the same frame whatever order its rows came in).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, TypeVar

__all__ = ["vi_sort_key", "vi_sorted", "TONE_ORDER", "ALPHABET"]

T = TypeVar("T")

#: The Vietnamese alphabet in order (29 letters), the basis of the primary weights.
ALPHABET: tuple[str, ...] = (
    "a", "ă", "â", "b", "c", "d", "đ", "e", "ê", "g", "h", "i", "k", "l", "m", "n",
    "o", "ô", "ơ", "p", "q", "r", "s", "t", "u", "ư", "v", "x", "y",
)

# Letter-by-letter order with the four non-Vietnamese Latin letters at their Latin places.
_LETTERS_PLAIN: tuple[str, ...] = (
    "a", "ă", "â", "b", "c", "d", "đ", "e", "ê", "f", "g", "h", "i", "j", "k", "l", "m", "n",
    "o", "ô", "ơ", "p", "q", "r", "s", "t", "u", "ư", "v", "w", "x", "y", "z",
)

# Dictionary ("traditional") order: each digraph/trigraph right after its first letter.
_LETTERS_TRADITIONAL: tuple[str, ...] = (
    "a", "ă", "â", "b", "c", "ch", "d", "đ", "e", "ê", "f", "g", "gh", "gi", "h", "i", "j",
    "k", "kh", "l", "m", "n", "ng", "ngh", "nh", "o", "ô", "ơ", "p", "ph", "q", "qu", "r", "s",
    "t", "th", "tr", "u", "ư", "v", "w", "x", "y", "z",
)

_WEIGHT_PLAIN = {letter: i for i, letter in enumerate(_LETTERS_PLAIN)}
_WEIGHT_TRADITIONAL = {letter: i for i, letter in enumerate(_LETTERS_TRADITIONAL)}
# Longest first, so that "ngh" wins over "ng" and "n".
_DIGRAPHS: tuple[str, ...] = ("ngh", "ch", "gh", "gi", "kh", "ng", "nh", "ph", "qu", "th", "tr")

#: Secondary order of the tone marks (combining characters after NFD): ngang, huyền, hỏi, ngã,
#: sắc, nặng.
TONE_ORDER: dict[str, int] = {
    "\u0300": 1,  # huyền (grave)
    "\u0309": 2,  # hỏi (hook above)
    "\u0303": 3,  # ngã (tilde)
    "\u0301": 4,  # sắc (acute)
    "\u0323": 5,  # nặng (dot below)
}

# Combining marks that make a distinct Vietnamese letter (primary difference).
_BREVE, _CIRCUMFLEX, _HORN = "\u0306", "\u0302", "\u031b"
_MODIFIED: dict[tuple[str, str], str] = {
    ("a", _BREVE): "ă",
    ("a", _CIRCUMFLEX): "â",
    ("e", _CIRCUMFLEX): "ê",
    ("o", _CIRCUMFLEX): "ô",
    ("o", _HORN): "ơ",
    ("u", _HORN): "ư",
}

# Primary element kinds: separators < numbers < letters < anything else.
_SEP, _NUM, _LETTER, _OTHER = 0, 1, 2, 3


def _letters(text: str) -> list[tuple[str, str, bool, str, str]]:
    """Split NFD text into (kind, base, is_upper, tone, other_marks) elements.

    ``kind`` is "L" for a letter, "D" for a digit, "S" for a separator, "O" for anything else.
    """
    out: list[tuple[str, str, bool, str, str]] = []
    nfd = unicodedata.normalize("NFD", text)
    i, n = 0, len(nfd)
    while i < n:
        ch = nfd[i]
        i += 1
        marks = []
        while i < n and unicodedata.combining(nfd[i]):
            marks.append(nfd[i])
            i += 1
        if ch.isspace() or (unicodedata.category(ch)[0] in "PZS" and not ch.isalnum()):
            out.append(("S", " ", False, "", ""))
            continue
        if ch.isdigit() and unicodedata.decimal(ch, None) is not None:
            out.append(("D", str(unicodedata.decimal(ch)), False, "", ""))
            continue
        lower = ch.lower()
        is_upper = ch != lower
        tone = ""
        other = []
        base = lower
        for m in marks:
            if m in TONE_ORDER:
                tone = tone or m
            elif (base, m) in _MODIFIED:
                base = _MODIFIED[(base, m)]
            else:
                other.append(m)
        kind = "L" if base in _WEIGHT_PLAIN else "O"
        out.append((kind, base, is_upper, tone, "".join(other)))
    return out


@lru_cache(maxsize=131072)
def _key(text: str, digraphs: bool) -> tuple[Any, ...]:
    elements = _letters(text)
    weights = _WEIGHT_TRADITIONAL if digraphs else _WEIGHT_PLAIN
    primary: list[tuple[int, int]] = []
    syllable_tones: list[int] = []
    other_marks: list[str] = []
    tertiary: list[int] = []
    zeros: list[int] = []

    i, n = 0, len(elements)
    in_syllable = False
    current_tone = 0
    while i < n:
        kind, base, upper, tone, other = elements[i]
        if kind == "S":
            if in_syllable:
                syllable_tones.append(current_tone)
                in_syllable, current_tone = False, 0
            if primary and primary[-1][0] != _SEP:
                primary.append((_SEP, 0))
            i += 1
            continue
        if kind == "D":
            if in_syllable:
                syllable_tones.append(current_tone)
                in_syllable, current_tone = False, 0
            j = i
            digits = []
            while j < n and elements[j][0] == "D":
                digits.append(elements[j][1])
                j += 1
            run = "".join(digits)
            primary.append((_NUM, int(run)))
            zeros.append(len(run) - len(run.lstrip("0")))
            i = j
            continue
        if kind == "O":
            if in_syllable:
                syllable_tones.append(current_tone)
                in_syllable, current_tone = False, 0
            primary.append((_OTHER, ord(base)))
            tertiary.append(1 if upper else 0)
            i += 1
            continue
        # A letter: at a syllable start, try the multi-letter initials in traditional mode.
        unit = base
        width = 1
        if digraphs and not in_syllable:
            for dg in _DIGRAPHS:
                k = len(dg)
                if i + k <= n and all(
                    elements[i + t][0] == "L" and elements[i + t][1] == dg[t] for t in range(k)
                ):
                    unit, width = dg, k
                    break
        for t in range(width):
            _, _, up, tn, oth = elements[i + t]
            tertiary.append(1 if up else 0)
            if tn and not current_tone:
                current_tone = TONE_ORDER[tn]
            if oth:
                other_marks.append(oth)
        in_syllable = True
        primary.append((_LETTER, weights[unit]))
        i += width
    if in_syllable:
        syllable_tones.append(current_tone)
    while primary and primary[-1][0] == _SEP:
        primary.pop()
    return (
        tuple(primary),
        (tuple(syllable_tones), tuple(other_marks)),
        (tuple(tertiary), tuple(zeros)),
        unicodedata.normalize("NFC", text),
    )


def normalize_name(text: str) -> str:
    """NFC, single spaces, trimmed: the form names are stored and matched in."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def name_key(text: str) -> str:
    """Matching form of a name, header or enum value: :func:`normalize_name`, case-folded
    (diacritics kept: "Nà" and "Na" are different villages). Sampling's one name folding;
    typed answers fold further (``engine.normalize.fold``)."""
    return normalize_name(text).casefold()


def vi_sort_key(s: str, *, digraphs: bool = False) -> tuple[Any, ...]:
    """The Vietnamese collation key of ``s`` (see the module docstring for the convention).

    ``digraphs=False`` (default) sorts letter by letter, as official administrative lists do;
    ``digraphs=True`` treats ch, gh, gi, kh, ng, ngh, nh, ph, qu, th, tr as single letters, as
    traditional dictionaries do. Keys compare with ``<``; equal keys mean identical NFC text.
    """
    if not isinstance(s, str):
        raise TypeError(f"vi_sort_key needs a str, got {type(s).__name__}")
    return _key(s, digraphs)


def vi_sorted(
    iterable: Iterable[T],
    key: Callable[[T], str] | None = None,
    *,
    reverse: bool = False,
    digraphs: bool = False,
) -> list[T]:
    """Sort ``iterable`` in Vietnamese alphabetical order.

    ``key`` extracts the name to sort by (default: the item itself, which must be a str).
    """
    if key is None:
        return sorted(iterable, key=lambda item: _key(item, digraphs), reverse=reverse)  # type: ignore[arg-type]
    return sorted(iterable, key=lambda item: _key(key(item), digraphs), reverse=reverse)
