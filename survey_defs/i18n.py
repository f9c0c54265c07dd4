"""One rule for picking a language: the text in the citizen's (or reader's) language, else the
Vietnamese text, else whatever translation exists.

Why one helper: every questionnaire text, option label and message override is a mapping
``{"vi": …, "en": …}`` and Vietnamese is the one language every survey must have (the schema
requires it); the engine, the channels, the describe command and analytics all fall back the same
way, so a missing English label shows the Vietnamese one everywhere, never a blank in one place
and a key in another.
"""

from __future__ import annotations

from typing import Mapping

__all__ = ["text_in"]


def text_in(text: Mapping[str, str] | None, lang: str, default: str = "") -> str:
    """``text[lang]``, else ``text["vi"]``, else the first translation, else ``default``."""
    if not text:
        return default
    return text.get(lang) or text.get("vi") or next(iter(text.values()), default) or default
