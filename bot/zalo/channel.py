"""The Zalo channel: citizens answer the survey in Zalo, the messenger most of Lai Châu uses.

A thin adapter between the Zalo Bot API (``bot/zalo/client.py``), the pure engine
(``engine/``) and storage (``storage/api.py``'s ``ConversationStore``).

What the platform imposes, and how we answer it:

* **No buttons, no deep-link payload.** Questions are sent as text with numbered options and a
  short hint ("👉 Trả lời 1–5"); citizens type the number (or the words: "hài lòng", "hai long" —
  the engine understands typed answers exactly as in the console). A multiple-choice question is
  a numbered list with ☑/☐ marks and the current picks ("Đã chọn: 1, 3"); the citizen types the
  numbers ("1 3"; typing again replaces the picks) and then ``0`` or "xong" to finish, or both
  at once ("1 3 xong"). ``0`` means "Xong" only on a multiple-choice step that has no option 0.
* **First contact is the short code** printed on the QR invitation card (``KS 4F7K2QM``). Any
  text that normalises to a credential (``storage.credentials.read_credential``: case, spaces, dashes,
  "KS"/"mã" prefix tolerated; a code-shaped typo counts too) is passed to
  ``claim_invite(text, "zalo", chat_id, message_id)``, which counts it in the claim ledger (per
  chat and per channel, in the database), binds this chat to the invited respondent, and moves a
  credential another chat holds only as docs/credentials.md says (a respondent who began on
  Telegram continues the *same* response once that chat allows it). Refusals use the words of
  ``engine.claim_texts`` (one answer for every code this chat may not use). The holder of a
  credential answers a hand-over request by typing CHO PHÉP / KHÔNG PHẢI TÔI.
  A citizen without a code may get a walk-in session if the open round allows it.
* **Exactly once.** The update key is Zalo's ``message_id``. Each update is handled under a
  per-chat lock (so a chat's messages are processed in arrival order), the engine's new state and
  events are committed with ``commit_step(..., channel="zalo", update_key=message_id)``, and
  replies are sent only if it returned True. A redelivered event (same message id) is a no-op.
  Session-less events (greetings, wrong codes) are de-duplicated by a bounded in-memory set.
* **Replies survive a crash.** Replies wait in the pacer's in-memory queue, which a crash loses
  (and Zalo never redelivers an event that was answered 200). So a commit records that its
  replies are owed, the channel says when they were sent (``store.replies_sent``), and
  ``start()`` queues the current question again for every chat whose replies were never reported
  sent (``engine.current_replies``), before any new event is handled.
* **Non-text events** (images, stickers, voice, files, ``message.unsupported.received``) get
  "vui lòng trả lời bằng số" and are never an error; group chats and bot senders are ignored.
* **Sending** goes through ``bot.zalo.pacer.Pacer`` (default 10/s overall, 1/s per chat with a burst
  of 3, replies to active citizens before bulk sends, 429 backoff). A 403 (blocked, left) marks
  the respondent unreachable. Texts longer than 2000 characters are split cleanly.
* **Polling** (development): one long poll at a time by default (``getUpdates`` returns a single
  event and has no offset, so an event is consumed when returned: a crash between receiving and
  committing loses it on the server side — the citizen, getting no answer, sends again).
  Errors back off exponentially up to 30 s; a wrong token stops the loop with a clear error.
* **Webhook** (production): the secret header ``X-Bot-Api-Secret-Token`` is compared with
  ``hmac.compare_digest`` *before* the body is read; a wrong or missing secret gets 403 and
  nothing is processed; bodies are bounded in size and JSON depth (``bot.webhook_guard``: 413 /
  400, never a 500). The HTTP answer (200) is given only once the update is durably committed,
  so a storage failure answers 500 and the platform's retry delivers it again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import re
import time
from typing import Any, Awaitable, Callable, Literal

from aiohttp import web

from bot.conversation import Conversation
from bot.rights import handle_rights, rights_command
from bot.startup_errors import StartupError, api_host, rejected_token, unreachable
from bot.webhook_guard import BadWebhookBody, RejectionLog, read_json_object, secret_matches, webhook_application
from bot.zalo.client import (
    EVENT_TEXT, SECRET_HEADER, ZaloApiError, ZaloBotClient, ZaloError, ZaloForbidden, ZaloNetworkError,
    ZaloUnauthorized, ZaloUpdate, ZaloUpdateError, parse_update, split_text,
)
from bot.zalo.pacer import Pacer, Priority
from bot.zalo.sender import ZaloSender
from bot.zalo.texts import render_reply, zt
import engine
from engine import claim_texts
from engine.normalize import fold
from engine.types import Done, Input, Start, TypedText
from storage.api import ConversationStore, Session, is_unavailable
from storage.credentials import read_credential

log = logging.getLogger("hailong.zalo")

CHANNEL = "zalo"

# ------------------------------------------------------------------ the adapter

Outcome = Literal["processed", "duplicate", "ignored", "greeted", "claimed", "refused"]


class ZaloChannel:
    """The Zalo adapter. Create, ``await start()``, then ``run_polling()`` or mount the webhook
    (``webhook_app()`` / ``add_webhook_route()``); ``await stop()`` at the end.

    ``pacer``: the outgoing pacer (created with Zalo's defaults if not given; pass one with
    ``rate=None, per_chat_rate=None`` to switch pacing off). ``clock``: wall-clock seconds given to
    the engine as ``now`` (paradata).
    """

    def __init__(
        self,
        client: ZaloBotClient,
        store: ConversationStore,
        *,
        pacer: Pacer | None = None,
        clock: Callable[[], float] = time.time,
        default_lang: str = "vi",
    ) -> None:
        self.client = client
        self.store = store
        self.pacer = pacer or Pacer(rate=10.0, per_chat_rate=1.0, per_chat_burst=3.0)
        self._own_pacer_started = False
        self.clock = clock
        self.default_lang = default_lang
        # lock → session → engine step → commit → stats: shared with every channel. Every step
        # is recorded, notices included, so that a redelivered webhook event stays a no-op.
        self.conversation = Conversation(store, CHANNEL, clock=clock, record_noop=True, buttons=False)  # text only
        self.stats = self.conversation.stats
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._secret: bytes | None = None
        self._rejections = RejectionLog(log, "Zalo webhook")
        # The questionnaire page (bot/web): (channel, chat id, respondent id) -> a link that
        # speaks for this chat, offered with the first question (Zalo has no buttons).
        self.page_link: Callable[[str, str, int], str | None] | None = None

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> "ZaloChannel":
        """Start sending; queue again the replies owed from before a restart (see the module
        docstring), so that they go out before the replies to any new event of those chats."""
        await self.pacer.start()
        owed = await self.conversation.owed()
        for session, _survey, replies in owed:
            lang = session.state.lang
            texts = [render_reply(r, lang) for r in replies]
            self._when_sent(self._send(session.chat_id, texts, session), session)
        if owed:
            log.info("showing %d Zalo conversations their question again (replies owed from before a restart)",
                     len(owed))
        return self

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Finish handling what arrived, send queued replies (up to ``drain_timeout``), stop."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=drain_timeout)
        await self.pacer.aclose(drain_timeout)
        for t in list(self._tasks):
            t.cancel()

    def _remember(self, key: str) -> bool:
        """True if ``key`` was seen recently (session-less de-duplication); records it otherwise."""
        if key in self._seen:
            return True
        self._seen[key] = None
        if len(self._seen) > 50_000:
            self._seen.popitem(last=False)
        return False

    # ------------------------------------------------------------ handling one update
    async def handle_update(self, update: ZaloUpdate) -> Outcome:
        """Process one event to a durable commit and queue its replies. Raises only when storage
        fails (the webhook then answers 500 so that the platform retries)."""
        self.stats.updates += 1
        msg = update.message
        if msg is None or msg.sender.is_bot or msg.chat.chat_type.upper() != "PRIVATE":
            self.stats.ignored += 1
            return "ignored"
        chat_id, key = msg.chat.id, msg.message_id
        async with self.conversation.hold(chat_id):
            # No is_processed() pre-check on the hot path: commit_step is the authoritative
            # exactly-once check and a duplicate only costs one pure engine step. Claims, which
            # have side effects before any commit, check first (see _claim).
            if key in self._seen:
                self.stats.duplicates += 1
                return "duplicate"
            session = await self.conversation.session(chat_id)
            if update.event_name != EVENT_TEXT or msg.text is None:
                return await self._non_text(chat_id, key, session)
            text = msg.text
            kind = rights_command(text)
            if kind is not None:   # /dulieu, /xoa (bot/rights.py): the questionnaire's place is unchanged
                replies = await handle_rights(self.store, kind, CHANNEL, chat_id, key,
                                              session.state.lang if session else None,
                                              self.conversation.survey)
                if not replies:
                    self.stats.duplicates += 1
                    return "duplicate"
                self._remember(key)
                self._send(chat_id, replies, None)
                return "processed"
            if session is None:
                return await self._no_session_text(chat_id, key, text)
            if _explicit_code(text):
                return await self._claim(chat_id, key, text, session)
            decision = claim_texts.typed_decision(text)
            if decision is not None:
                decided = await self.store.decide_handover(CHANNEL, chat_id, decision == "allow")
                if decided.status != "none":
                    self._remember(key)
                    reply = claim_texts.ALLOWED_OLD if decided.status == "allowed" else claim_texts.DENIED_OLD
                    self._send(chat_id, [reply], session)
                    return "processed"
            return await self._step(session, await self._input_for(session, text), key)

    async def _no_session_text(self, chat_id: str, key: str, text: str) -> Outcome:
        """First contact: a text that normalises to a credential (``storage.credentials.read_credential``:
        a token, a code, or a code-shaped typo, whatever spaces, dashes, case or prefix it was
        written with) is a claim, counted and limited; other text opens a walk-in session if the
        open round allows one, else the citizen is asked for the code."""
        if read_credential(text) is not None:
            return await self._claim(chat_id, key, text, None)
        walk_in = await self.store.open_walk_in(CHANNEL, chat_id)
        if walk_in is not None:
            return await self._step(walk_in, Start(), key)
        if self._remember(key):
            self.stats.duplicates += 1
            return "duplicate"
        self._send(chat_id, [zt("need_code", self.default_lang)], None)
        return "greeted"

    async def _input_for(self, session: Session, text: str) -> Input:
        """The engine input for typed ``text``: ``0`` is "Xong" on a multiple-choice step that has
        no option 0; everything else goes to the engine as typed text (it recognises commands with
        the current step's context, so a free-text comment like "quay lại sau" stays an answer)."""
        st = session.state
        if text.strip() == "0" and st.status == "active" and st.current:
            survey = await self.conversation.survey(st.survey_hash)
            sp = engine.compile_survey(survey).by_id.get(st.current)
            if sp is not None and sp.type == "multi" and "0" not in sp.exact:
                return Done(st.current)
        return TypedText(text)

    async def _step(self, session: Session, inp: Input, key: str) -> Outcome:
        stepped = await self.conversation.step(session, inp, key)
        if not stepped.committed:
            owed = await self.conversation.owed_again(session, stepped)
            if owed:   # the worker that committed it died before replying: show the question now
                texts = [render_reply(r, session.state.lang) for r in owed]
                self._when_sent(self._send(session.chat_id, texts, session), session)
            return "duplicate"
        lang = stepped.state.lang
        texts = [render_reply(r, lang) for r in stepped.replies]
        if self.page_link is not None and session.state.status in ("new", "paused") and \
                any(r.kind == "question" for r in stepped.replies):
            link = self.page_link(CHANNEL, session.chat_id, session.respondent_id)
            if link:
                texts.insert(len(texts) - 1, zt("page_link", lang, url=link))
        self._when_sent(self._send(session.chat_id, texts, session), session)
        return "processed"

    async def _claim(self, chat_id: str, key: str, text: str, session: Session | None) -> Outcome:
        """Claim the invitation in ``text`` for this chat and start (or resume) its response.

        Storage normalises, counts and limits the claim (``storage.claims``) and applies the
        hand-over rule; this chat is told the outcome in the words every channel uses
        (``engine.claim_texts``). A redelivered claim changes and sends nothing."""
        if await self.store.is_processed(CHANNEL, key):
            self.stats.duplicates += 1
            return "duplicate"
        claim = await self.store.claim_invite(text, CHANNEL, chat_id, key)
        if claim.status == "ok" and claim.session is not None:
            if claim.sealed:
                self._send(chat_id, [claim_texts.CONTINUED_HIDDEN], claim.session)
            return await self._step(claim.session, Start(), key)
        if claim.repeat or self._remember(key):
            self.stats.duplicates += 1
            return "duplicate"
        self._send(chat_id, [claim_texts.claim_reply(claim.status, CHANNEL, claim.retry_after)], session)
        return "refused"

    async def _non_text(self, chat_id: str, key: str, session: Session | None) -> Outcome:
        """Images, stickers, voice…: a polite hint, never an error. With a session the event is
        committed (unchanged state) so that a redelivery stays a no-op even after a restart."""
        if session is None:
            if self._remember(key):
                self.stats.duplicates += 1
                return "duplicate"
            self._send(chat_id, [zt("non_text_no_session", self.default_lang)], None)
            return "ignored"
        if not await self.conversation.commit(session, session.state, (), key):
            return "duplicate"
        self._when_sent(self._send(chat_id, [zt("non_text", session.state.lang)], session), session)
        return "ignored"

    # ------------------------------------------------------------ sending
    def _send(self, chat_id: str, texts: list[str], session: Session | None,
              priority: Priority = Priority.INTERACTIVE) -> list[asyncio.Future[Any]]:
        """Queue texts (split at 2000 characters) in order; failures are handled in callbacks."""
        futs = []
        for text in texts:
            for part in split_text(text):
                fut = self.pacer.submit(chat_id, _sender(self.client, chat_id, part), priority)
                self.stats.replies += 1
                fut.add_done_callback(lambda f, s=session: self._sent(f, s))
                futs.append(fut)
        return futs

    def _when_sent(self, futs: list[asyncio.Future[Any]], session: Session) -> None:
        """Tell the store once every part of a committed step's replies was sent (or the chat
        cannot be reached: nothing more to deliver); a part that failed otherwise stays owed."""
        if not futs:
            self.conversation.sent(session)
            return

        def done(g: asyncio.Future[list[Any]]) -> None:
            if g.cancelled():
                return
            if all(not isinstance(r, BaseException) or isinstance(r, ZaloForbidden)
                   for r in g.result()):
                self.conversation.sent(session)

        asyncio.gather(*futs, return_exceptions=True).add_done_callback(done)

    def _sent(self, fut: asyncio.Future[Any], session: Session | None) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is None:
            return
        self.stats.send_failures += 1
        if isinstance(exc, ZaloForbidden) and session is not None:
            self.stats.unreachable += 1
            self._spawn(self.store.mark_unreachable(session.respondent_id, f"zalo 403: {exc.description}"[:200]))
        else:
            log.warning("zalo send to a chat failed: %s", exc)

    async def send_bulk(self, chat_id: str, text: str) -> None:
        """Send an invite/reminder text at BULK priority (after every interactive reply); raises
        ``ZaloForbidden`` if the chat cannot be reached so the outbox can record it."""
        futs = [self.pacer.submit(chat_id, _sender(self.client, chat_id, part), Priority.BULK)
                for part in split_text(text)]
        for f in futs:
            await f

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_task_error)
        return task

    # ------------------------------------------------------------ polling
    async def run_polling(self, stop: asyncio.Event | None = None, *, poll_timeout: int = 30,
                          pollers: int = 1, max_backoff: float = 30.0) -> None:
        """Long-poll until ``stop`` is set (or the task is cancelled). ``pollers`` > 1 runs that
        many concurrent polls (more throughput; a chat's order is then only as good as arrival
        order, which is fine because citizens wait for the next question before answering)."""
        stop = stop or asyncio.Event()
        with contextlib.suppress(ZaloError):
            await self.client.delete_webhook()       # getUpdates is refused while a webhook is set

        async def poll_loop() -> None:
            backoff = 0.5
            while not stop.is_set():
                try:
                    update = await self.client.get_updates(poll_timeout)
                except ZaloUnauthorized:
                    raise
                except ZaloUpdateError as exc:
                    self.stats.poll_errors += 1
                    log.warning("malformed Zalo update skipped: %s", exc)
                    continue
                except ZaloError as exc:
                    self.stats.poll_errors += 1
                    log.warning("Zalo getUpdates failed (%s); retrying in %.1fs", exc, backoff)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop.wait(), backoff)
                    backoff = min(max_backoff, backoff * 2)
                    continue
                backoff = 0.5
                if update is not None:
                    self._spawn(self._handle_logged(update))

        loops = [asyncio.ensure_future(poll_loop()) for _ in range(max(1, pollers))]
        stopper = asyncio.ensure_future(stop.wait())
        try:
            done, _ = await asyncio.wait([*loops, stopper], return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t is not stopper and t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
        finally:
            for t in [*loops, stopper]:
                t.cancel()
            for t in [*loops, stopper]:
                with contextlib.suppress(BaseException):
                    await t

    async def _handle_logged(self, update: ZaloUpdate) -> None:
        """Polling: the event is already consumed (Zalo's getUpdates has no offset), so when
        storage cannot take it the citizen is asked, in both languages, to send it again; the
        next message is processed as soon as storage has recovered."""
        try:
            await self.handle_update(update)
        except Exception as exc:  # noqa: BLE001
            if is_unavailable(exc):
                log.warning("storage unavailable, a Zalo message was not stored (citizen asked to resend): %s", exc)
            else:
                log.exception("handling a Zalo update failed")
            if update.message is not None:
                self._send(update.message.chat.id, [zt("busy", "vi") + "\n" + zt("busy", "en")], None)

    # ------------------------------------------------------------ webhook
    def add_webhook_route(self, app: web.Application, path: str, secret: str) -> None:
        """Mount the webhook on ``app`` at ``path``, checking ``secret`` on every request."""
        if not 8 <= len(secret) <= 256:
            raise ValueError("webhook secret must be 8 to 256 characters")
        self._secret = secret.encode("utf-8")
        app.router.add_post(path, self._webhook)

    def webhook_app(self, path: str, secret: str) -> web.Application:
        app = webhook_application()
        self.add_webhook_route(app, path, secret)
        return app

    async def _webhook(self, request: web.Request) -> web.Response:
        if not secret_matches(request.headers.get(SECRET_HEADER), self._secret):
            self.stats.webhook_rejected += 1
            self._rejections.rejected("wrong or missing secret", request.remote)
            return web.Response(status=403, text="forbidden")
        try:
            update = parse_update(await read_json_object(request))
        except BadWebhookBody as exc:
            self.stats.webhook_rejected += 1
            self._rejections.rejected(exc.reason, request.remote)
            return web.json_response({"ok": False, "description": exc.reason}, status=exc.status)
        except ZaloUpdateError:
            return web.json_response({"ok": False, "description": "bad update"}, status=400)
        try:
            await self.handle_update(update)
        except Exception as exc:  # noqa: BLE001 - storage trouble: let the platform retry
            if is_unavailable(exc):
                log.warning("storage unavailable, Zalo webhook update refused (500: retried later): %s", exc)
            else:
                log.exception("handling a Zalo webhook update failed")
            return web.json_response({"ok": False}, status=500)
        return web.json_response({"ok": True})


# ------------------------------------------------------------------ ``hailong run --channel zalo``

class ZaloRunner:
    """The Zalo channel as ``hailong run`` drives it: client, pacer and adapter from ``Settings``;
    long polling, or a webhook server on ``listen_host:zalo_listen_port`` registered with
    ``setWebhook`` (the webhook is left in place on stop, so events queue while restarting)."""

    def __init__(self, settings: Any, store: ConversationStore) -> None:
        self.settings = settings
        self.store = store
        self.channel: ZaloChannel | None = None
        self._stop = asyncio.Event()
        self._poll_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self.page_link: Callable[[str, str, int], str | None] | None = None   # given to the adapter

    async def start(self) -> None:
        st = self.settings
        client = ZaloBotClient(st.zalo_token.get_secret_value(), st.zalo_base_url)
        if st.zalo_rate_limit:
            pacer = Pacer(rate=st.zalo_rate_overall, per_chat_rate=st.zalo_rate_per_chat,
                          per_chat_burst=st.zalo_rate_burst, max_retries=st.zalo_max_retries)
        else:
            pacer = Pacer(rate=None, per_chat_rate=None, max_retries=st.zalo_max_retries)
        self.channel = ZaloChannel(client, self.store, pacer=pacer)
        self.channel.page_link = self.page_link
        await self.channel.start()
        me = await client.get_me()                   # fails fast on a wrong token
        log.info("Zalo bot %s (%s) connected, %s mode", me.account_name, me.id, st.zalo_mode)
        if st.zalo_mode == "webhook":
            secret = st.zalo_webhook_secret.get_secret_value()
            app = self.channel.webhook_app(st.zalo_webhook_path, secret)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, st.listen_host, st.zalo_listen_port).start()
            await client.set_webhook(st.zalo_webhook_url, secret)
        else:
            self._poll_task = asyncio.ensure_future(
                self.channel.run_polling(self._stop, poll_timeout=st.zalo_poll_timeout))
            self._poll_task.add_done_callback(_log_task_error)

    def bulk_sender(self) -> Any:
        """The outbox's sender on this channel's client and pacer (bulk after replies)."""
        assert self.channel is not None, "start() first"
        return ZaloSender(self.channel.client, self.channel.pacer)

    async def stop(self) -> None:
        self._stop.set()
        if self._poll_task is not None:
            self._poll_task.cancel()
            with contextlib.suppress(BaseException):
                await self._poll_task
        if self._runner is not None:
            await self._runner.cleanup()
        if self.channel is not None:
            await self.channel.stop()
            await self.channel.client.close()


def explain_start_failure(exc: BaseException, settings: Any) -> StartupError | None:
    """What ``ZaloRunner.start`` raises (getMe, setWebhook) as one line for the operator."""
    api = "Zalo Bot API"
    if isinstance(exc, ZaloUnauthorized):
        return rejected_token(api, api_host(settings.zalo_base_url), "HAILONG_ZALO_TOKEN")
    if isinstance(exc, ZaloNetworkError) or (isinstance(exc, ZaloApiError) and exc.retryable):
        return unreachable(api, api_host(settings.zalo_base_url), str(exc))
    if isinstance(exc, ZaloApiError):
        return StartupError(f"{api} từ chối cấu hình / the {api} refused the configuration: {exc}")
    return None


def _sender(client: ZaloBotClient, chat_id: str, text: str) -> Callable[[], Awaitable[Any]]:
    return lambda: client.send_message(chat_id, text)


_PREFIX_RE = re.compile(r"^(?:ks|ma ks|ma|code)\b[\s:#-]*[a-z0-9]")


def _explicit_code(text: str) -> bool:
    """During a survey only an explicit code ("KS 4F7K2Q", "mã 4F7K2Q") or a pasted deep-link
    token switches respondent; a bare "4F7K2Q" could be an answer to a free-text question."""
    t = text.strip()
    if len(t) > 80:
        return False
    cred = read_credential(t)
    return cred is not None and (cred.kind == "token" or bool(_PREFIX_RE.match(fold(t))))


def _log_task_error(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background Zalo task failed: %r", task.exception())


__all__ = ["CHANNEL", "ZaloChannel", "ZaloRunner"]
