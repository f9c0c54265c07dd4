"""A cooperative scripted citizen on the Zalo emulator: read the prompt, type a plausible answer.

Split from :mod:`demo.emulators.zalo` because it is a client of the emulator (through
:class:`~demo.emulators.zalo.EmulatedUser`), not part of the API it emulates; the integration
tests and the Zalo benchmark use it to answer whole questionnaires by number.
"""

from __future__ import annotations

import random
import re

from demo.emulators.zalo import EmulatedUser

__all__ = ["answer_until_done", "is_final", "is_prompt", "next_prompt", "scripted_answer"]

_PROMPT_HEAD = re.compile(r"^(?:Câu|Question) \d+/\d+", re.M)
_FINAL = ("đã được gửi", "have been submitted", "đã kết thúc", "has ended", "đã dừng khảo sát",
          "left the survey", "đã được ghi nhận", "already recorded")


def is_final(text: str) -> bool:
    """The bot's closing message (submitted, ended, withdrawn)."""
    return any(f in text for f in _FINAL)


def is_prompt(text: str) -> bool:
    """A message that waits for the citizen: a question, the review, or a closing message."""
    return bool(_PROMPT_HEAD.search(text)) or "«gửi»" in text or "“submit”" in text or is_final(text)


def scripted_answer(prompt: str, rng: random.Random) -> str | None:
    """What a cooperative simulated citizen types to a Zalo-rendered prompt (None when finished).

    Yes/no style questions (two options) get the first option, so screening passes; scales and
    other choices get a random option; multiple choice picks one option then ``0`` (Xong);
    numbers within the stated range; free text a short comment; the review is submitted.
    """
    if is_final(prompt):
        return None
    if "«gửi»" in prompt or "“submit”" in prompt:
        return "gửi"
    if "Gõ các số Ông/Bà chọn" in prompt or "Type the numbers you choose" in prompt:
        return "1" if ("Chưa chọn ý nào" in prompt or "Nothing chosen" in prompt) else "0"
    m = re.search(r"👉 (?:Trả lời|Answer) 1–(\d+)", prompt)
    if m:
        n = int(m[1])
        return "1" if n == 2 else str(rng.randint(1, n))
    if "👉 Trả lời 1" in prompt or "👉 Answer 1" in prompt:
        return "1"
    m = re.search(r"(?:từ|from) (\d+) (?:đến|to) (\d+)", prompt)
    if m and int(m[1]) <= int(m[2]):
        return str(rng.randint(int(m[1]), int(m[2])))
    if re.search(r"\bGõ (?:một )?số\b|\bType a number\b", prompt):
        return "45"
    return "Không có ý kiến thêm."


async def next_prompt(user: EmulatedUser, timeout: float = 5.0) -> list[str]:
    """Bot messages up to and including the next prompt (see ``is_prompt``)."""
    got = [await user.wait_for_reply(timeout)]
    while not is_prompt(got[-1]):
        got.append(await user.wait_for_reply(timeout))
    return got


async def answer_until_done(user: EmulatedUser, rng: random.Random, *, max_steps: int = 500,
                            timeout: float = 5.0) -> int:
    """Play a cooperative citizen from the current prompt to the closing message; returns the
    number of messages sent. Raises TimeoutError if the bot stops answering."""
    sent = 0
    for _ in range(max_steps):
        prompt = (await next_prompt(user, timeout))[-1]
        answer = scripted_answer(prompt, rng)
        if answer is None:
            return sent
        user.send_text(answer)
        sent += 1
    raise RuntimeError(f"{user.chat_id}: no closing message after {max_steps} answers")
