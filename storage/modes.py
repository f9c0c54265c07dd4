"""The mode of an answer: how it was given (one question per chat message, a section per page,
a paper form), derived from what storage already records with every answer.

Every answer row keeps the channel of the update that gave it (``answers.channel``: telegram,
zalo, console, web) and every response whether it was entered from paper (``responses.mode``).
The questionnaire page commits with the channel ``web`` (``bot.web``), so an answer's mode needs
no column of its own: ``web`` is the page, a paper response's answers are paper, anything else
is the chat. A citizen may start in the chat and finish on the page: the mode belongs to each
answer, and a response's mode for analysis is the mode it was submitted in (the channel of its
last step, ``responses.channel``, kept on every commit), which costs analytics nothing to read;
the mode of each answer stays in ``answers.channel`` for item-level questions.
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


def response_mode(response_mode_column: str, last_channel: str | None) -> str:
    """A response's mode for analysis: paper, else the mode of the step that submitted it."""
    return answer_mode(last_channel, response_mode_column)
