"""The transcript runner: every tests/transcripts/*.yaml is played by one runner (:func:`play`)
through a small driver protocol, against the engine, the console channel, the page and the
channels' emulators (the tests that do so live beside the package they test).

A transcript file::

    survey: mini              # a shipped survey id, or a file in tests/transcripts/surveys/
    lang: vi
    about: what this conversation shows
    steps:
      - send: /start                      # typed text (commands included) ...
        expect: {kind: question, step: consent, contains: "đồng ý"}
      - send: {choose: [channels, 1]}     # ... or a button press
      - send: {done: channels}            # ... the "Xong" button
      - send: {command: back}             # ... or a command ({command: [lang, en]} with an argument)
        expect:                           # one mapping or a list; each must match some reply
          - {kind: question, step: fb_timely, contains: "Câu trả lời hiện tại"}
        replies: [question]               # optional: the exact kinds of the replies, in order
      - send: "4"
        times: 3                          # optional: send the same thing several times
    answers: {consent: 1, ...}            # optional: the final answers, exactly
    status: submitted                     # optional: final status (and outcome)
    outcome: complete

Channels (Telegram and Zalo emulators) play the same files by implementing :class:`Driver`:
start a conversation, turn an engine :data:`Input` into what a person does on that channel, and
return the replies the person sees in the engine's vocabulary.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml
from rich.console import Console

import engine
from bot.console import ConsoleChannel
from demo.seed import seed_round
from engine.types import Choose, Command, Done, Input, Reply, Start, State, TypedText
from storage.conversations import SqliteConversationStore
from storage.db import Database
from survey_defs.loader import get_survey, load_survey
from survey_defs.schema import Survey

HERE = Path(__file__).resolve().parents[1] / "transcripts"
FILES = sorted(HERE.glob("*.yaml"))


class Driver(Protocol):
    """What a channel test implements to play transcripts."""

    def start(self, survey: Survey, lang: str) -> None:
        """Open a fresh conversation on ``survey`` in ``lang`` (nothing sent yet)."""

    def send(self, inp: Input) -> list[Reply]:
        """Deliver one input as a person would on this channel; the replies they receive."""

    def state(self) -> State:
        """The response state now (from the engine or from storage)."""


def load_transcript(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["_name"] = path.name
    return data


def survey_of(ref: str) -> Survey:
    local = HERE / "surveys" / f"{ref}.yaml"
    return load_survey(local) if local.exists() else get_survey(ref)


def to_input(send: Any) -> Input:
    """A transcript ``send`` as an engine input."""
    if isinstance(send, str):
        return TypedText(send)
    if isinstance(send, (int, float)):
        return TypedText(str(send))
    if isinstance(send, dict):
        if "choose" in send:
            sid, value = send["choose"]
            return Choose(sid, value)
        if "done" in send:
            return Done(send["done"])
        if "command" in send:
            c = send["command"]
            return Command(c[0], c[1]) if isinstance(c, list) else Command(c)
        if "start" in send:
            return Start()
    raise ValueError(f"cannot read send: {send!r}")


def _matches(reply: Reply, exp: dict[str, Any]) -> bool:
    if "kind" in exp and reply.kind != exp["kind"]:
        return False
    if "step" in exp and reply.step_id != exp["step"]:
        return False
    if "contains" in exp:
        wanted = exp["contains"] if isinstance(exp["contains"], list) else [exp["contains"]]
        if not all(w in reply.text for w in wanted):
            return False
    if "progress" in exp and list(reply.progress or ()) != list(exp["progress"]):
        return False
    if "selected" in exp and [o.value for o in reply.options if o.selected] != exp["selected"]:
        return False
    return True


def _check_step(where: str, st: dict[str, Any], replies: list[Reply]) -> None:
    shown = [f"{r.kind}/{r.step_id}: {r.text[:120]!r}" for r in replies]
    if "replies" in st:
        assert [r.kind for r in replies] == st["replies"], f"{where}: replies {shown}"
    exps = st.get("expect") or []
    for exp in exps if isinstance(exps, list) else [exps]:
        assert any(_matches(r, exp) for r in replies), f"{where}: expected {exp}, got {shown}"


def _check_final(name: str, transcript: dict[str, Any], final: State) -> None:
    if "status" in transcript:
        assert final.status == transcript["status"], f"{name}: status {final.status}"
    if "outcome" in transcript:
        assert final.outcome == transcript["outcome"], f"{name}: outcome {final.outcome}"
    if "answers" in transcript:
        assert final.answers == transcript["answers"], f"{name}: answers {final.answers}"


def play(transcript: dict[str, Any], driver: Driver) -> State:
    """Play ``transcript`` through ``driver``, asserting every expectation; the final state."""
    name = transcript.get("_name", "?")
    survey = survey_of(transcript["survey"])
    driver.start(survey, transcript.get("lang", "vi"))
    for n, st in enumerate(transcript["steps"], 1):
        inp = to_input(st["send"])
        where = f"{name} step {n} (send {st['send']!r})"
        for _ in range(int(st.get("times", 1))):
            replies = driver.send(inp)
            assert replies, f"{where}: no reply"
        _check_step(where, st, replies)
    final = driver.state()
    _check_final(name, transcript, final)
    return final


class AsyncDriver(Protocol):
    """A channel driven over the network (the Telegram and Zalo emulators): :class:`Driver`, async.

    ``send`` returns None for an input a person cannot give on that channel (a press on an old
    button where the channel has no buttons): the step is left out, expectations included
    (nothing is sent, so nothing changes).
    """

    async def start(self, survey: Survey, lang: str) -> None: ...

    async def send(self, inp: Input) -> list[Reply] | None: ...

    async def state(self) -> State: ...


async def aplay(transcript: dict[str, Any], driver: AsyncDriver) -> State:
    """:func:`play` for an :class:`AsyncDriver`."""
    name = transcript.get("_name", "?")
    survey = survey_of(transcript["survey"])
    await driver.start(survey, transcript.get("lang", "vi"))
    for n, st in enumerate(transcript["steps"], 1):
        inp = to_input(st["send"])
        where = f"{name} step {n} (send {st['send']!r})"
        replies: list[Reply] | None = []
        for _ in range(int(st.get("times", 1))):
            replies = await driver.send(inp)
            assert replies is None or replies, f"{where}: no reply"
        if replies is not None:
            _check_step(where, st, replies)
    final = await driver.state()
    _check_final(name, transcript, final)
    return final


class Shadow:
    """What a channel driver compares the channel with: the engine's own step on the state the
    channel stored, input by input.

    Why: a chat message carries no reply kind or step id, so a channel driver cannot read the
    engine's vocabulary back from what the person sees. It takes the engine's replies for the
    same input on the stored state and keeps those whose text the person was actually shown
    (:meth:`seen`); an expectation on a reply the channel did not show then fails. After each
    input the stored state must be the engine's (:meth:`check`): same place, answers, language.
    """

    def __init__(self, survey: Survey, lang: str, *, buttons: bool = True) -> None:
        self.survey = survey
        self.lang = lang
        self.buttons = buttons          # as the channel steps the engine (Zalo: text only)
        self.expected: State | None = None
        self.now = 1_700_000_000.0

    def step(self, stored: State | None, inp: Input) -> list[Reply]:
        """The engine's replies to ``inp`` on ``stored`` (a fresh state when nothing is stored)."""
        self.now += 5
        base = stored if stored is not None else engine.new_state(self.survey, self.lang)
        r = engine.step(self.survey, base, inp, self.now, buttons=self.buttons)
        self.expected = r.state
        return list(r.replies)

    @staticmethod
    def seen(replies: list[Reply], texts: list[str]) -> list[Reply]:
        """The replies whose text is in what the person was shown (``texts``), in order."""
        shown = "\n".join(texts)
        return [r for r in replies if r.text and r.text in shown]

    def check(self, where: str, stored: State | None) -> None:
        exp = self.expected
        assert exp is not None and stored is not None, f"{where}: nothing stored"
        got = (stored.status, stored.current, stored.answers, stored.lang, stored.outcome)
        want = (exp.status, exp.current, exp.answers, exp.lang, exp.outcome)
        assert got == want, f"{where}: the channel stored {got}, the engine has {want}"



class StoredChatDriver:
    """What the Telegram and Zalo drivers share: a one-respondent round in a database file of
    their own, the conversation store the channel runs on, the state it stored for the citizen's
    chat (what :class:`Shadow` checks after each input), and closing what was opened, last first.

    A subclass sets ``chat_channel`` and ``chat_id`` (the store's key for the citizen), appends
    what it starts to ``cleanup`` and keeps the running channel in ``channel``."""

    chat_channel = ""
    chat_id = ""
    channel: Any = None

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.cleanup: list[Callable[[], Awaitable[Any]]] = []

    async def open_round(self, survey: Survey, lang: str, file_name: str) -> Any:
        """The database, a round of ``survey`` with one respondent (returned) and the store."""
        self.db = await Database.open(str(self.tmp / file_name))
        self.cleanup.append(self.db.close)
        seeded = await seed_round(self.db, survey, respondents=1)
        self.store = SqliteConversationStore(self.db, default_lang=lang)
        return seeded.respondents[0]

    async def close(self) -> None:
        for close in reversed(self.cleanup):
            await close()

    async def _stored(self) -> State | None:
        session = await self.store.session_for_chat(self.chat_channel, self.chat_id)
        return None if session is None else session.state

    async def state(self) -> State:
        stored = await self._stored()
        assert stored is not None
        return stored


async def play_on_channel(driver: StoredChatDriver, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Play one transcript file on a channel with the engine strict, close the channel, and
    require that it counted no error."""
    monkeypatch.setattr(engine.steps, "STRICT", True)
    try:
        await aplay(load_transcript(path), driver)
    finally:
        await driver.close()
    assert driver.channel.stats.errors == 0

@dataclass
class EngineDriver:
    """Plays straight against :func:`engine.step`, with a clock ticking 5 s per message."""

    survey: Survey | None = None
    st: State | None = None
    now: float = 1_700_000_000.0

    def start(self, survey: Survey, lang: str) -> None:
        self.survey = survey
        self.st = engine.new_state(survey, lang)

    def send(self, inp: Input) -> list[Reply]:
        assert self.survey is not None and self.st is not None
        self.now += 5
        r = engine.step(self.survey, self.st, inp, self.now)
        self.st = r.state
        return list(r.replies)

    def state(self) -> State:
        assert self.st is not None
        return self.st


@dataclass
class ConsoleDriver:
    """Plays through the console channel: every input becomes the line a person would type there
    (a button press becomes the option's number, "Xong" becomes "xong", commands their slash form).
    """

    ch: ConsoleChannel | None = None
    last: list[Reply] = field(default_factory=list)

    def start(self, survey: Survey, lang: str) -> None:
        self.ch = ConsoleChannel(survey=survey, console=Console(file=io.StringIO()), lang=lang)

    def line_for(self, inp: Input) -> str | Input:
        assert self.ch is not None
        if isinstance(inp, Choose):
            question = next((r for r in reversed(self.last) if r.kind == "question"), None)
            if question is None or question.step_id != inp.step_id:
                return inp  # a stale press cannot be typed: deliver the press itself
            for n, o in enumerate(question.options, 1):
                if str(o.value) == str(inp.value):
                    return str(n)
            return inp
        if isinstance(inp, Done):
            question = next((r for r in reversed(self.last) if r.kind == "question"), None)
            return "xong" if question is not None and question.step_id == inp.step_id else inp
        if isinstance(inp, Command):
            return f"/{inp.name}" + (f" {inp.arg}" if inp.arg else "")
        if isinstance(inp, Start):
            return "/start"
        return inp.text

    def send(self, inp: Input) -> list[Reply]:
        assert self.ch is not None
        line = self.line_for(inp)
        r = self.ch.send(TypedText(line) if isinstance(line, str) else line)  # type: ignore[arg-type]
        self.last = list(r.replies)
        return self.last

    def state(self) -> State:
        assert self.ch is not None
        return self.ch.state
