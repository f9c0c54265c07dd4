"""How a step's replies look in a Telegram chat: the question messages and their buttons.

* **Old buttons cannot be pressed by mistake**: after an answer the question message is edited to
  show the chosen answer and loses its keyboard; a multiple-choice checkbox list is edited in place.
* **Two requests per pressed answer**: when the answer was a button of the chat's last question,
  one edit shows the answer and asks the next question below it, with its buttons (the message
  grows as a card, up to 4096 characters), where closing the question and sending the next took
  two; the chat reads the same. A typed answer closes the question and sends the next below it.
* **Few messages**: texts without buttons are merged into the next message that has some.

Buttons carry HMAC-signed data (``bot.telegram.callback``) naming the step, the value and the
question's ``seq``. Kept apart from ``bot.telegram.channel`` (the update pipeline) because this
is the one place that knows Telegram's message shapes and limits.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from telegram.error import BadRequest

from bot.telegram import callback as cb
from bot.telegram.texts import t
from engine import answer_label
from engine.types import Command, Reply, State
from survey_defs.schema import Survey

log = logging.getLogger("hailong.telegram")

MAX_MESSAGE = 4096

__all__ = ["MAX_MESSAGE", "QuestionMessages", "Shown", "chunks"]


@dataclass(slots=True)
class Shown:
    """The last question message of a chat: what to edit when it is answered. ``head``: the
    message's text before the question (the earlier questions of a card, see ``QuestionMessages._card``)."""

    message_id: int
    step_id: str | None
    seq: int
    text: str
    multi: bool
    head: str = ""


class QuestionMessages:
    """The question messages of every chat of one bot. ``api(method, **params)``: a Bot API call
    (plain dicts); ``signer``: the channel's callback signer; ``mini_app_url``: the questionnaire
    page, offered under the first question of a conversation (None: no page)."""

    def __init__(self, api: Callable[..., Awaitable[Any]], signer: cb.Signer, mini_app_url: str | None) -> None:
        self._api = api
        self._key = signer
        self.mini_app_url = mini_app_url
        self._shown: OrderedDict[int, Shown] = OrderedDict()

    def keyboard(self, chat_id: int, reply: Reply, seq: int, lang: str) -> dict[str, Any] | None:
        rows: list[list[dict[str, str]]] = []
        opts = reply.options
        if opts and reply.step_id is not None:
            labels = []
            for n, o in enumerate(opts, 1):
                box = ("☑ " if o.selected else "☐ ") if reply.multi else ("● " if o.selected else "")
                labels.append(f"{box}{n}. {o.label}")
            data = [cb.encode(self._key, chat_id, "c", reply.step_id, str(o.value), seq) for o in opts]
            buttons = [{"text": lab[:120], "callback_data": d} for lab, d in zip(labels, data)]
            short = all(len(lab) <= 16 for lab in labels)
            if short and len(buttons) > 3:
                rows.extend(buttons[i:i + 2] for i in range(0, len(buttons), 2))
            else:
                rows.extend([b] for b in buttons)
        action_row: list[dict[str, str]] = []
        for action in reply.actions:
            data = cb.encode_input(self._key, chat_id, action.input, seq)
            if data is None:
                continue
            button = {"text": action.label, "callback_data": data}
            if isinstance(action.input, Command):
                action_row.append(button)
            else:
                rows.append([button])  # Xong ✓ gets its own row
        if reply.kind == "question":
            action_row.append({"text": t("pause_btn", lang),
                               "callback_data": cb.encode(self._key, chat_id, "k", "pause", "", seq)})
        if action_row:
            rows.append(action_row)
        return {"inline_keyboard": rows} if rows else None

    async def show(self, chat_id: int, before: State, after: State, replies: tuple[Reply, ...], survey: Survey,
                   pressed_message: int | None = None, pressed_text: str = "") -> None:
        """Send ``replies`` of a step from ``before`` to ``after`` to the chat, editing its last question
        where that reads better (see the module docstring). ``pressed_message``/``pressed_text``: the
        message whose button was pressed, if the step came from a press. Raises ``Forbidden`` when
        the citizen blocked the bot (the caller marks them unreachable)."""
        lang = after.lang
        shown = self._shown.get(chat_id)
        if shown is None and pressed_message is not None:
            shown = Shown(pressed_message, before.current, before.seq, pressed_text, False)
        # 1. a multiple-choice list toggled: edit it in place and stop there
        multi = [r for r in replies if r.kind == "question" and r.multi]
        if (shown is not None and len(replies) == 1 and multi and multi[0].seq == shown.seq
                and multi[0].step_id == shown.step_id):
            r = multi[0]
            text = shown.head + r.text
            try:
                if len(text) <= MAX_MESSAGE:
                    await self._api("editMessageText", chat_id=chat_id, message_id=shown.message_id,
                                    text=text, reply_markup=self.keyboard(chat_id, r, after.seq, lang))
                    shown.text = text
                    return
            except BadRequest as exc:
                if "not modified" in str(exc).lower():
                    return
                log.info("in-place edit failed (%s); sending anew", exc)
        settled = shown is not None and (after.seq != shown.seq or after.current != shown.step_id
                                         or after.status in ("paused", "submitted", "ended"))
        # 2. a button of the last question pressed: one edit shows the answer and asks the next
        if settled and shown is not None and pressed_message == shown.message_id and \
                await self._card(chat_id, shown, before, after, replies, survey):
            return
        # 3. the previous question is settled: show the answer, drop its keyboard
        if settled and shown is not None:
            await self._close_question(chat_id, shown, before, after, survey)
            self._shown.pop(chat_id, None)
        # 4. send the replies, merging texts into as few messages as possible
        pending: list[str] = []
        for r in replies:
            if r.kind == "stale":
                continue
            markup = self._markup(chat_id, r, before, after)
            if markup is None:
                pending.append(r.text)
                continue
            text = "\n\n".join([*pending, r.text])
            pending = []
            if len(text) > MAX_MESSAGE:
                head, text = text[: len(text) - len(r.text) - 2], r.text
                for chunk in chunks(head):
                    await self._api("sendMessage", chat_id=chat_id, text=chunk)
            text = text[:MAX_MESSAGE]
            sent = await self._api("sendMessage", chat_id=chat_id, text=text, reply_markup=markup)
            self._remember(chat_id, Shown(int(sent["message_id"]), r.step_id, after.seq, text, r.multi,
                                          text[: max(0, len(text) - len(r.text))]))
        if pending:
            for chunk in chunks("\n\n".join(pending)):
                await self._api("sendMessage", chat_id=chat_id, text=chunk)

    def _markup(self, chat_id: int, r: Reply, before: State, after: State) -> dict[str, Any] | None:
        """The inline keyboard of a reply (None for plain text); the Mini App button on the
        first question of a conversation (or of its resumption)."""
        if not (r.options or r.actions or r.kind == "question"):
            return None
        markup = self.keyboard(chat_id, r, after.seq, after.lang)
        if markup is not None and r.kind == "question" and self.mini_app_url and \
                before.status in ("new", "paused"):
            markup["inline_keyboard"].append([{"text": t("open_page", after.lang),
                                               "web_app": {"url": self.mini_app_url}}])
        return markup

    async def _card(self, chat_id: int, shown: Shown, before: State, after: State,
                    replies: tuple[Reply, ...], survey: Survey) -> bool:
        """A press answered the question ``shown``: edit that message once so that it shows the
        answer and then the next question with its buttons (a "card" growing down the chat, up
        to Telegram's 4096 characters). One request where closing the question and sending the
        next took two; the chat reads the same (each question, its answer, the next question),
        and only the newest question has buttons. False (nothing sent) when the replies do not
        end in one message with buttons, the text would be too long, or Telegram refuses the
        edit (too old, deleted): the caller then closes the question and sends the next."""
        shown_replies = [r for r in replies if r.kind != "stale"]
        if not shown_replies:
            return False
        last = shown_replies[-1]
        markup = self._markup(chat_id, last, before, after)
        if markup is None or any(self._markup(chat_id, r, before, after) is not None for r in shown_replies[:-1]):
            return False
        note = self._note(shown, before, after, survey)
        head = shown.text + ("\n" + note if note else "") + "\n\n" + \
            "".join(r.text + "\n\n" for r in shown_replies[:-1])
        text = head + last.text
        if len(text) > MAX_MESSAGE:
            return False
        try:
            await self._api("editMessageText", chat_id=chat_id, message_id=shown.message_id, text=text,
                            reply_markup=markup)
        except BadRequest as exc:
            log.debug("could not edit question %s into the next one: %s", shown.message_id, exc)
            return False
        self._remember(chat_id, Shown(shown.message_id, last.step_id, after.seq, text, last.multi, head))
        return True

    def _note(self, shown: Shown, before: State, after: State, survey: Survey) -> str:
        """What closing the question ``shown`` adds under it: the answer given, or "went back"."""
        lang = after.lang
        if shown.step_id is not None and shown.step_id in after.answers and \
                (after.answers.get(shown.step_id) != before.answers.get(shown.step_id)
                 or after.current != shown.step_id):
            label = answer_label(survey, shown.step_id, after.answers[shown.step_id], lang)
            return t("chosen", lang, label=label)
        if after.current is not None and before.trail and after.current == before.trail[-1]:
            return t("went_back", lang)
        return ""

    async def _close_question(self, chat_id: int, shown: Shown, before: State, after: State,
                              survey: Survey) -> None:
        """Edit the answered question to show the answer and lose its keyboard."""
        note = self._note(shown, before, after, survey)
        text = shown.text + ("\n" + note if note else "")
        try:
            if note and len(text) <= MAX_MESSAGE:
                await self._api("editMessageText", chat_id=chat_id, message_id=shown.message_id, text=text)
            else:
                await self._api("editMessageReplyMarkup", chat_id=chat_id, message_id=shown.message_id)
        except BadRequest as exc:  # deleted, too old or already without keyboard: harmless
            log.debug("could not close question %s: %s", shown.message_id, exc)

    def _remember(self, chat_id: int, shown: Shown) -> None:
        """Keep the chat's last question (the oldest chats forgotten past 200 000: their next
        answer then sends the question anew instead of editing)."""
        self._shown[chat_id] = shown
        self._shown.move_to_end(chat_id)
        while len(self._shown) > 200_000:
            self._shown.popitem(last=False)


def chunks(text: str, size: int = MAX_MESSAGE) -> list[str]:
    """Split on line breaks where possible so no message exceeds Telegram's 4096 characters."""
    out: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        if cut <= 0:
            cut = size
        out.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        out.append(text)
    return out
