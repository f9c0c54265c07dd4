"""The Telegram channel: a thin adapter between PTB updates, the pure engine and our storage.

Why it looks like this:

* **State lives in our engine and storage**, not in PTB: no ``ConversationHandler`` (not safe with
  concurrent updates) and no ``PicklePersistence`` (flushes every 60 s, so a crash loses answers).
  Each update runs: load the session → ``engine.step`` →
  ``commit_step(..., update_key=str(update.update_id))`` → only when that returned True (durable,
  first time) are replies sent. A redelivered update therefore changes and sends nothing.
  There is no ``is_processed`` pre-check: redeliveries are rare (a crash between commit and
  the next getUpdates offset) while the extra read cost every update a database round trip;
  ``commit_step`` is the authoritative exactly-once check either way. A redelivered ``/start
  <token>`` re-binds the same chat (idempotent) and then sends nothing.
* **Many citizens at once, each in order**: ``concurrent_updates`` lets PTB run handlers in
  parallel; the chat's lock (``bot.conversation``: per process, and on a shared PostgreSQL
  database across workers) keeps one citizen's updates strictly in arrival order.
* **Replies survive a crash**: a commit records that its replies are owed; once they are sent
  the channel says so (``store.replies_sent``). At start-up, before any new update of theirs,
  chats whose replies were never reported sent see their current question again
  (``engine.current_replies``), and so does a chat whose update is redelivered after the worker
  that committed it died before replying (``Conversation.owed_again``; a redelivered press, whose
  question has passed, is recognised before the stale-button notice); otherwise a redelivered
  update sends nothing, so each step's reply arrives once (twice only if a process died within
  the milliseconds between sending and recording it: docs/durability.md).
* **An update is acknowledged only once it is durable** (``bot.telegram.updates``): polling confirms a
  batch to Telegram only when every update of it is committed (not PTB's ``Updater``, which
  confirms on its next fetch while handlers still run), the webhook answers 200 only then. When
  storage cannot take an update (disk full, database locked: ``storage.api.is_unavailable``),
  polling keeps it unconfirmed and retries it in order (the chat's lock held, pausing up to
  30 s) until storage recovers; the webhook answers 500 and Telegram retries.
* **Never trust callback data**: buttons carry HMAC-signed data (``bot.telegram.callback``) naming the step,
  the value and the question's ``seq``. Forged or malformed data gets a short notice; a press on
  an outdated question gets "Câu hỏi này đã qua" and changes nothing.
* **How replies look** (buttons, answered questions edited in place, two requests per pressed
  answer): ``bot.telegram.messages``; what the channel says itself: ``bot.telegram.texts``; staff
  commands and groups: ``bot.telegram.staff``.
* **Telegram's limits** are kept by ``bot.telegram.ratelimit.PriorityRateLimiter``; a 403 (the citizen
  blocked the bot) marks the respondent unreachable instead of retrying.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Awaitable, Callable

from aiohttp import web
from telegram import BotCommand, Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.request import HTTPXRequest

from bot.conversation import Conversation
from bot.rights import handle_rights, rights_command
from bot.settings import Settings
from bot.telegram import callback as cb
from bot.telegram.ratelimit import PriorityRateLimiter
from bot.telegram.messages import MAX_MESSAGE, QuestionMessages
from bot.telegram.sender import TelegramSender
from bot.telegram.staff import answer_in_group, answer_staff
from bot.telegram.texts import BILINGUAL, t
from bot.telegram.transport import (PRESSED, AiohttpRequest, LeanRequest, LeanUpdatesRequest, UpdatesRequest,
                                    chat_of, trim_update)
from bot.telegram.updates import DurablePolling, Durability
from bot.webhook_guard import BadWebhookBody, RejectionLog, read_json_object, secret_matches, webhook_application
from engine import claim_texts
from engine.normalize import parse_typed
from engine.texts import t as engine_text
from engine.types import Input, Reply, Start, State, TypedText
from storage.api import ConversationStore, Session, StaleSession, is_unavailable
from survey_defs.schema import Survey

log = logging.getLogger("hailong.telegram")

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "channel_post"]
STORAGE_RETRY_MAX_S = 30.0

class TelegramChannel:
    """The Telegram adapter. ``await channel.start()`` / ``await channel.stop()``.

    Args:
        settings: channel configuration (token, base URL, mode, staff ids, rate limits…).
        store: the conversation store (``storage.api.ConversationStore``).
        status_provider: optional coroutine returning the /status text for staff (progress per
            unit of the open round); ``None`` answers that no progress source is configured.
        clock: time source (tests may freeze it).
    """

    def __init__(self, settings: Settings, store: ConversationStore, *,
                 status_provider: Callable[[], Awaitable[str]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if settings.telegram_token is None:
            raise ValueError("thiếu token của bot Telegram (HAILONG_TELEGRAM_TOKEN) / "
                             "missing Telegram bot token (HAILONG_TELEGRAM_TOKEN)")
        self.settings = settings
        self.store = store
        self.status_provider = status_provider
        self.clock = clock
        self._key = cb.Signer(settings.signing_key(CHANNEL))
        # lock → session → engine step → commit → stats: shared with every channel. A step that
        # changes nothing (a notice) is not recorded: polling never redelivers a confirmed update.
        self.conversation = Conversation(store, CHANNEL, clock=clock, record_noop=False, cache_sessions=True)
        self.stats = self.conversation.stats
        self._web_runner: web.AppRunner | None = None
        self._durability = Durability()
        self._polling: DurablePolling | None = None
        self._resends: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self.webhook_port: int | None = None
        self.application: Application = self._build()
        self._post: Callable[[str, dict[str, Any]], Awaitable[Any]] = self.application.bot._post
        secret = settings.telegram_webhook_secret
        self._webhook_secret = secret.get_secret_value().encode("utf-8") if secret is not None else None
        self._rejections = RejectionLog(log, "Telegram webhook")
        # The questionnaire page as a Mini App (bot/web): a button on the first question.
        self.mini_app_url = f"{settings.page_public_url.rstrip('/')}/tg" if settings.page_public_url else None
        self.messages = QuestionMessages(self._api, self._key, self.mini_app_url)
        # Apps served on the webhook's port too (the page, under its prefix), added before start().
        self.mount_on_webhook: list[Callable[[web.Application], None]] = []

    # -------------------------------------------------------------- building

    def _request(self, pool: int, read_timeout: float, updates: bool = False) -> Any:
        if self.settings.telegram_transport == "httpx":
            return HTTPXRequest(connection_pool_size=min(pool, 64), read_timeout=read_timeout,
                                pool_timeout=10.0)
        if self.settings.telegram_transport == "aiohttp":
            cls: type[AiohttpRequest] | type[LeanRequest] = UpdatesRequest if updates else AiohttpRequest
        else:
            cls = LeanUpdatesRequest if updates else LeanRequest
        return cls(connection_pool_size=pool, read_timeout=read_timeout, pool_timeout=30.0)

    def _build(self) -> Application:
        s = self.settings
        assert s.telegram_token is not None
        self._requests = (self._request(s.telegram_pool_size, 10.0),
                          self._request(2, s.telegram_poll_timeout + 10.0, updates=True))
        builder: ApplicationBuilder = (
            Application.builder()
            .token(s.telegram_token.get_secret_value())
            .base_url(s.telegram_base_url)
            .base_file_url(s.telegram_base_file_url)
            .request(self._requests[0])
            .get_updates_request(self._requests[1])
            .concurrent_updates(max(16, s.telegram_pool_size * 2))
        )
        # No PTB Updater: bot.telegram.updates polls (confirming only durable updates), or our own
        # aiohttp app receives the webhook.
        builder = builder.updater(None)
        if s.telegram_rate_limit:
            builder = builder.rate_limiter(PriorityRateLimiter(
                overall_per_s=s.telegram_rate_overall, per_chat_per_s=s.telegram_rate_per_chat,
                per_chat_burst=s.telegram_rate_burst, max_retries=s.telegram_max_retries))
        app = builder.build()
        app.add_handler(TypeHandler(Update, self._on_update))
        app.add_error_handler(self._on_error)
        return app

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Initialise PTB, then poll or serve the webhook."""
        app = self.application
        await app.initialize()
        await app.start()
        try:
            await app.bot.set_my_commands([
                BotCommand("start", "Bắt đầu / tiếp tục khảo sát"),
                BotCommand("back", "Quay lại câu trước"),
                BotCommand("pause", "Tạm dừng"),
                BotCommand("continue", "Tiếp tục"),
                BotCommand("lang", "Đổi ngôn ngữ (Tiếng Việt / English)"),
                BotCommand("help", "Hướng dẫn"),
                BotCommand("stop", "Không tham gia nữa"),
                BotCommand("dulieu", "Xem dữ liệu của tôi / my data"),
                BotCommand("xoa", "Rút lại đồng ý, xóa dữ liệu của tôi / delete my data"),
            ])
        except TelegramError as exc:  # cosmetic: never prevents the bot from running
            log.warning("setMyCommands failed: %s", exc)
        await self._resend_owed()
        if self.settings.telegram_mode == "webhook":
            await self._start_webhook()
        else:
            await app.bot.delete_webhook()
            self._polling = DurablePolling(
                app, self._durability, timeout=self.settings.telegram_poll_timeout,
                interval=self.settings.telegram_poll_interval, allowed_updates=ALLOWED_UPDATES,
                error_callback=lambda exc: log.warning("polling error: %s", exc))
            await self._polling.start()
        log.info("Telegram channel started (%s) as @%s", self.settings.telegram_mode, app.bot.username)

    def bulk_sender(self) -> Any:
        """The outbox's sender on this channel's bot: invites and reminders at bulk priority."""
        return TelegramSender(self.application.bot, mini_app_url=self.mini_app_url)

    async def stop(self) -> None:
        """Stop fetching, finish updates in progress, close connections."""
        self._stopping.set()
        app = self.application
        if self._resends:
            await asyncio.wait(list(self._resends), timeout=10)
        if self._polling is not None:
            await self._polling.stop()
            await self._polling.wait_handlers()
            self._polling = None
        if self._web_runner is not None:
            await self._web_runner.cleanup()
            self._web_runner = None
        if app.running:
            await app.stop()
        await app.shutdown()
        # A start that failed half-way (getMe refused: wrong token, no network) leaves PTB
        # uninitialised, and its shutdown then skips the connections initialize() opened.
        for request in self._requests:
            await request.shutdown()

    # -------------------------------------------------------------- webhook

    def webhook_app(self) -> web.Application:
        """Our aiohttp app for webhook mode: the secret token is checked on every request, and
        bodies are bounded (``bot.webhook_guard``)."""
        web_app = webhook_application()
        web_app.router.add_post(self.settings.telegram_webhook_path, self._on_webhook)
        for mount in self.mount_on_webhook:
            mount(web_app)
        return web_app

    async def _on_webhook(self, request: web.Request) -> web.Response:
        if not secret_matches(request.headers.get(SECRET_HEADER), self._webhook_secret):
            self.stats.webhook_rejected += 1
            self._rejections.rejected("wrong or missing secret token", request.remote)
            return web.Response(status=403, text="forbidden")
        try:
            data = await read_json_object(request)
        except BadWebhookBody as exc:
            self.stats.webhook_rejected += 1
            self._rejections.rejected(exc.reason, request.remote)
            return web.Response(status=exc.status, text=exc.reason)
        try:
            trim_update(data)
            update = Update.de_json(data, self.application.bot)
        except Exception:
            return web.Response(status=400, text="bad update")
        if update is None:
            return web.Response(status=400, text="bad update")
        # Processed before answering 200: if we crash, Telegram delivers it again (idempotent);
        # if storage could not take it, 500 and Telegram delivers it again later.
        durable = self._durability.expect(update.update_id)
        await self.application.process_update(update)
        self._durability.reached(update.update_id)   # settled, whatever PTB did with it
        if durable.done() and not durable.cancelled() and durable.exception() is not None:
            return web.Response(status=500, text="storage unavailable, retry later")
        return web.Response(text="ok")

    async def _start_webhook(self) -> None:
        s = self.settings
        self._web_runner = web.AppRunner(self.webhook_app(), access_log=None)
        await self._web_runner.setup()
        site = web.TCPSite(self._web_runner, s.listen_host, s.listen_port)
        await site.start()
        sockets = site._server.sockets if site._server else ()  # type: ignore[union-attr]
        self.webhook_port = sockets[0].getsockname()[1] if sockets else s.listen_port
        url = s.telegram_webhook_url or ""
        url = url.replace("{port}", str(self.webhook_port))
        await self.application.bot.set_webhook(
            url, secret_token=s.telegram_webhook_secret.get_secret_value() if s.telegram_webhook_secret else None,
            allowed_updates=ALLOWED_UPDATES, max_connections=100)

    # -------------------------------------------------------------- dispatch

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        self.stats.errors += 1
        log.error("error while handling an update", exc_info=context.error)

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Every update comes here; nothing raised from here reaches PTB (errors are logged)."""
        chat = chat_of(update)
        if chat is None:
            return  # inline queries, polls…: not for us
        chat_id = chat[0]
        try:
            async with self.conversation.hold(chat_id):
                await self._handle_until_stored(update, chat_id, chat[1])
        except Exception:
            self.stats.errors += 1
            log.exception("update %s failed", update.update_id)
        finally:
            self._durability.reached(update.update_id)

    async def _resend_owed(self) -> None:
        """Show their current question again to the chats whose last replies were never reported
        sent (the process died between a commit and its replies). Each chat's lock is taken here,
        before any update is fetched, so its new updates are handled after the question is shown."""
        owed = await self.conversation.owed()
        for session, survey, replies in owed:
            release = await self.conversation.take(session.chat_id)   # free: nothing is handled yet
            task = asyncio.create_task(self._resend(session, survey, replies, release))
            self._resends.add(task)
            task.add_done_callback(self._resends.discard)
        if owed:
            log.info("showing %d conversations their question again (replies owed from before a restart)", len(owed))

    async def _resend(self, session: Session, survey: Survey, replies: tuple[Reply, ...],
                      release: Callable[[], Awaitable[None]]) -> None:
        try:
            state = session.state
            await self._send_replies(None, session, state, state, replies, survey, None)
            self.conversation.sent(session)
        except Exception as exc:  # the network: owed still, shown at the next start
            log.warning("could not show an owed question again: %s", exc)
        finally:
            await release()

    async def _handle_until_stored(self, update: Update, chat_id: int, chat_type: str) -> None:
        """``_handle``, again and again while storage is unavailable (see the module docstring).

        Polling retries here, with the chat's lock held, so that the chat's later updates wait
        behind this one; nothing was sent for an attempt that failed (replies follow a commit),
        and an attempt that did commit makes the next one a redelivery. Webhook (or stopping):
        the update is marked failed at once and the platform redelivers it.
        """
        pause = 0.5
        fresh = False
        while True:
            try:
                await self._handle(update, chat_id, chat_type)
                return
            except StaleSession:
                # Built on a cached session that was out of date: nothing was stored or sent;
                # the chat's session is read again and the update handled from the start.
                self.conversation.forget(chat_id)
                if fresh:
                    raise
                fresh = True
                self.stats.stale_cache += 1
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                self.stats.storage_unavailable += 1
                if self._polling is None or self._stopping.is_set():
                    log.warning("storage unavailable, update %s not acknowledged (redelivered later): %s",
                                update.update_id, exc)
                    self._durability.failed(update.update_id, exc)
                    return
                # once per update at WARNING: a long outage retries every update every 30 s
                log.log(logging.WARNING if pause == 0.5 else logging.DEBUG,
                        "storage unavailable, update %s kept unconfirmed, retrying in %.1f s: %s",
                        update.update_id, pause, exc)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), pause)
                pause = min(STORAGE_RETRY_MAX_S, pause * 2)

    async def _handle(self, update: Update, chat_id: int, chat_type: str) -> None:
        self.stats.updates += 1
        if chat_type != "private":
            await answer_in_group(self.application.bot, update)
            return
        if update.callback_query is not None:
            await self._press(update, chat_id)
            return
        if update.edited_message is not None:
            await self._notice(update, "edited")
            return
        msg = update.message
        if msg is None:
            return
        user = msg.from_user
        text = msg.text
        if text is None:
            await self._notice(update, "junk")
            return
        stripped = text.strip()
        lowered = stripped.split(maxsplit=1)[0].split("@", 1)[0].lower() if stripped else ""
        if lowered in ("/status", "/whoami"):
            if await answer_staff(self.application.bot, self.settings, self.status_provider, update, lowered,
                                    user.id if user else None):
                return
        kind = rights_command(stripped)
        if kind is not None:     # /dulieu, /xoa (bot/rights.py): the questionnaire's place is unchanged
            chat = str(chat_id)
            session = await self.conversation.session(chat)
            for reply in await handle_rights(self.store, kind, CHANNEL, chat, str(update.update_id),
                                             session.state.lang if session else None, self.conversation.survey):
                await self._send_plain(update, reply)
            return
        payload = stripped.split(maxsplit=1)[1].strip() if lowered == "/start" and len(stripped.split()) > 1 else None
        await self._text(update, stripped if stripped else text, lowered == "/start", payload)

    # -------------------------------------------------------------- inputs

    async def _text(self, update: Update, text: str, is_start: bool, payload: str | None) -> None:
        chat_id = str(update.effective_chat.id)  # type: ignore[union-attr]
        key = str(update.update_id)
        session: Session | None
        if is_start and payload:
            # Every /start <payload> is a claim: counted and limited by storage (storage.claims).
            claim = await self.store.claim_invite(payload[:64], CHANNEL, chat_id, key)
            if claim.status != "ok" or claim.session is None:
                if not claim.repeat:
                    await self._send_plain(update, claim_texts.claim_reply(claim.status, CHANNEL,
                                                                           claim.retry_after))
                return
            session = claim.session
            if claim.sealed:
                await self._send_plain(update, claim_texts.CONTINUED_HIDDEN)
        else:
            session = await self.conversation.session(chat_id)
            decision = claim_texts.typed_decision(text) if session is not None and not is_start else None
            if decision is not None and await self._decide(update, int(chat_id), decision, None):
                return
            if session is None:
                if not is_start:
                    await self._send_plain(update, BILINGUAL["press_start"])
                    return
                session = await self.store.open_walk_in(CHANNEL, chat_id)
                if session is None:
                    await self._send_plain(update, BILINGUAL["need_invite"])
                    return
        inp: Input = Start() if is_start else parse_typed(text)
        if isinstance(inp, TypedText) and len(inp.text) > MAX_MESSAGE:
            inp = TypedText(inp.text[:MAX_MESSAGE])
        await self._run(update, session, inp, key, pressed_message=None)

    async def _press(self, update: Update, chat_id: int) -> None:
        query = update.callback_query
        assert query is not None
        key = str(update.update_id)
        if claim_texts.is_decision_button(query.data):
            parsed = claim_texts.button_decision(str(query.data))
            if parsed is None:
                self.stats.forged += 1
                await self._answer(query, t("bad_button", "vi") + " / " + t("bad_button", "en"))
            elif not await self._decide(update, chat_id, parsed[1], parsed[0]):
                await self._answer(query, claim_texts.DECISION_STALE)
            return
        press = cb.verify(self._key, chat_id, query.data)
        if press is None:
            self.stats.forged += 1
            await self._answer(query, t("bad_button", "vi") + " / " + t("bad_button", "en"))
            return
        session = await self.conversation.session(chat_id)
        if session is None:
            await self._answer(query, t("no_session_button", "vi") + " / " + t("no_session_button", "en"))
            return
        state = session.state
        lang = state.lang
        survey = await self.conversation.survey(state.survey_hash)
        if press.seq != state.seq or state.status in ("submitted", "ended"):
            self.conversation.fresh_needed(session)
            if await self._redelivered(session, survey, key):
                return
            self.stats.stale += 1     # the engine's words for it (a survey may override them)
            await self._answer(query, engine_text("stale", lang, survey.messages))
            return
        inp = cb.press_input(press, state, survey)
        if inp is None:
            self.conversation.fresh_needed(session)
            self.stats.forged += 1
            await self._answer(query, t("bad_button", lang))
            return
        pressed = query.api_kwargs.get(PRESSED)
        mid = query.message.message_id if query.message is not None else \
            (pressed["message_id"] if isinstance(pressed, dict) else None)
        await self._run(update, session, inp, key, pressed_message=mid)

    async def _decide(self, update: Update, chat_id: int, decision: claim_texts.Decision,
                      nonce: str | None) -> bool:
        """The holder of a credential answers a hand-over request (docs/credentials.md), by a
        button (``nonce`` authenticates it) or typed words. False if no such request is pending
        for this chat (typed words then go to the engine as an ordinary answer)."""
        result = await self.store.decide_handover(CHANNEL, str(chat_id), decision == "allow", nonce)
        if result.status == "none":
            return False
        query = update.callback_query
        if query is not None:
            await self._answer(query, None)
            pressed = query.api_kwargs.get(PRESSED)
            mid = query.message.message_id if query.message is not None else \
                (pressed.get("message_id") if isinstance(pressed, dict) else None)
            if mid is not None:
                try:
                    await self._api("editMessageReplyMarkup", chat_id=chat_id, message_id=mid)
                except BadRequest as exc:
                    log.debug("could not close the hand-over request: %s", exc)
        reply = claim_texts.ALLOWED_OLD if result.status == "allowed" else claim_texts.DENIED_OLD
        try:
            await self._api("sendMessage", chat_id=chat_id, text=reply)
        except Forbidden:
            log.info("a holder blocked the bot right after answering a hand-over request")
        return True

    # -------------------------------------------------------------- the step

    async def _run(self, update: Update, session: Session, inp: Input, key: str,
                   pressed_message: int | None) -> None:
        stepped = await self.conversation.step(session, inp, key)
        query = update.callback_query
        before, after, replies, survey = stepped.before, stepped.state, stepped.replies, stepped.survey
        if not stepped.committed and not stepped.duplicate:
            # Nothing changed (a notice such as "already done"): nothing to make durable.
            if await self._redelivered(session, survey, key):
                return
            stale = [r for r in replies if r.kind == "stale"]
            if query is not None:
                await self._answer(query, stale[0].text if stale else (replies[0].text[:190] if replies else None))
                if stale or not replies:
                    return
            await self._send_replies(update, session, before, after, replies, survey, pressed_message)
            return
        self._durability.reached(update.update_id)   # durable: it may be confirmed to Telegram
        if stepped.duplicate:
            await self._show_owed(session, survey, await self.conversation.owed_again(session, stepped))
            return
        if query is not None:
            await self._answer(query, None)
        await self._send_replies(update, session, before, after, replies, survey, pressed_message)
        self.conversation.sent(session)

    async def _redelivered(self, session: Session, survey: Survey, key: str) -> bool:
        """Whether an update that changes nothing now was handled before (a redelivery:
        ``Conversation.owed_if_redelivered``); its question is then shown again if the worker
        that handled it died before replying."""
        owed = await self.conversation.owed_if_redelivered(session, survey, key)
        if owed is None:
            return False
        await self._show_owed(session, survey, owed)
        return True

    async def _show_owed(self, session: Session, survey: Survey, owed: tuple[Reply, ...]) -> None:
        if owed:   # the worker that committed the step died before replying: show the question now
            await self._send_replies(None, session, session.state, session.state, owed, survey, None)
            self.conversation.sent(session)

    # -------------------------------------------------------------- rendering

    async def _api(self, method: str, **params: Any) -> Any:
        """A Bot API call with plain dicts in and out.

        Why not ``bot.send_message``: PTB then builds and parses full ``Message`` objects for
        every reply, which was the largest CPU cost per answer in benchmarks/telegram_e2e.py;
        the adapter only needs the message id. Errors are PTB's (BadRequest, Forbidden…).

        Why ``Bot._post`` and not ``do_api_request``: the latter warns (a ``PTBUserWarning``
        built and filtered on every call) for methods PTB wraps, and camel-cases the name;
        ``_post`` is the step both go through (defaults, then ``ExtBot._do_post`` with our
        rate limiter), so nothing but that overhead is skipped. PTB is pinned (22.x).
        """
        return await self._post(method, {k: v for k, v in params.items() if v is not None})

    async def _send_replies(self, update: Update | None, session: Session, before: State, after: State,
                            replies: tuple[Reply, ...], survey: Survey, pressed_message: int | None) -> None:
        """Show a step's replies (``bot.telegram.messages``); a citizen who blocked the bot is
        marked unreachable instead."""
        pressed_text = ""
        if pressed_message is not None and update is not None and update.callback_query is not None:
            query = update.callback_query
            pressed = query.api_kwargs.get(PRESSED)
            pressed_text = (pressed.get("text") if isinstance(pressed, dict) else None) \
                or getattr(query.message, "text", None) or ""
        try:
            await self.messages.show(int(session.chat_id), before, after, replies, survey,
                                     pressed_message, pressed_text)
        except Forbidden as exc:
            self.stats.unreachable += 1
            log.info("respondent %s blocked the bot: marked unreachable", session.respondent_id)
            await self.store.mark_unreachable(session.respondent_id, f"telegram: {exc.message}"[:200])

    # -------------------------------------------------------------- small replies

    async def _answer(self, query: Any, text: str | None) -> None:
        try:
            await self._api("answerCallbackQuery", callback_query_id=query.id, text=text[:200] if text else None)
        except BadRequest as exc:  # too old (e.g. after a restart): the citizen sees no toast
            log.debug("answerCallbackQuery failed: %s", exc)

    async def _send_plain(self, update: Update, text: str) -> None:
        try:
            await self.application.bot.send_message(update.effective_chat.id, text)  # type: ignore[union-attr]
        except Forbidden:
            log.debug("chat %s blocked the bot before binding", update.effective_chat.id)  # type: ignore[union-attr]

    async def _notice(self, update: Update, key: str) -> None:
        """A short reply to junk (stickers, photos, voice, edits): nothing is stored."""
        chat_id = str(update.effective_chat.id)  # type: ignore[union-attr]
        session = await self.conversation.session(chat_id)
        if session is None:
            await self._send_plain(update, BILINGUAL["press_start"])
            return
        try:
            await self.application.bot.send_message(int(chat_id), t(key, session.state.lang))
        except Forbidden as exc:
            await self.store.mark_unreachable(session.respondent_id, f"telegram: {exc.message}"[:200])
