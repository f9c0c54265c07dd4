"""The mode of an answer: how it was given (one question per chat message, a section per page,
a paper form), derived from what storage already records with every answer.

Every answer row keeps the channel of the update that gave it (``answers.channel``: telegram,
zalo, console, web) and every response whether it was entered from paper (``responses.mode``).
The questionnaire page commits with the channel ``web`` (``bot.web``), so an answer's mode needs
no column of its own: ``web`` is the page, a paper response's answers are paper, anything else
is the chat. A citizen may start in the chat and finish on the page: the mode belongs to each
answer, and a response's mode for analysis is the mode most of its answers were given in.
"""

from __future__ import annotations

__all__ = ["MODES", "PAGE_CHANNEL", "answer_mode", "response_mode"]

MODES: tuple[str, ...] = ("chat", "page", "paper")
#: The channel the questionnaire page commits with.
PAGE_CHANNEL = "web"


def answer_mode(channel: str | None, response_mode: str = "chat") -> str:
    """chat, page or paper for one stored answer."""
    if response_mode == "paper":
        return "paper"
    return "page" if channel == PAGE_CHANNEL else "chat"


def response_mode(response_mode_column: str, page_answers: int, answers: int) -> str:
    """A response's mode for analysis: paper, else page when most of its answers came from the
    page, else chat (ties go to the chat, where every response begins unless it came by link)."""
    if response_mode_column == "paper":
        return "paper"
    return "page" if answers and page_answers * 2 > answers else "chat"
