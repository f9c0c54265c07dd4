"""Vietnamese text helpers for analytics output: alphabetical order and label lookup.

Python's default ``sorted`` puts "Đ" after "Z" and "Â" after "A...z"; official lists (and every
table an analyst reads) use the Vietnamese alphabet a ă â b c d đ e ê g h i k l m n o ô ơ p q r s
t u ư v x y, with tone marks as a secondary difference. The order is the project's one collation
(``sampling/collation.py``), so analytics tables and sampling lists agree; labels fall back as
everywhere else (``survey_defs/i18n.py``).
"""

from __future__ import annotations

from typing import Any

from sampling.collation import vi_sort_key
from survey_defs.i18n import text_in

__all__ = ["vi_key", "label"]


def vi_key(text: Any) -> tuple:
    """Sort key in Vietnamese alphabetical order; None/NaN sort last."""
    if text is None or (isinstance(text, float) and text != text):
        return (1, ())
    return (0, vi_sort_key(str(text)))


def label(text: dict[str, str] | None, lang: str = "vi") -> str:
    """The text in ``lang`` (falling back to Vietnamese, then to any language)."""
    return text_in(text, lang)
