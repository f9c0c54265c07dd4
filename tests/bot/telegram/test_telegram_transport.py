"""LeanRequest, AiohttpRequest and PriorityRateLimiter against the emulator, through the real PTB Bot;
LeanRequest's HTTP/1.1 handling against a scripted server (keep-alive, chunked, close, timeouts)."""

from __future__ import annotations

import asyncio
import time

import pytest
from telegram import Bot
from telegram.error import Forbidden, NetworkError, RetryAfter
from telegram.ext import ExtBot

from bot.telegram.transport import AiohttpRequest, LeanRequest
from bot.telegram.ratelimit import PriorityRateLimiter
from bot.settings import Settings
from demo.emulators.telegram import TelegramEmulator
from demo.emulators.telegram_rules import FloodLimits


@pytest.fixture
async def emu():
    e = TelegramEmulator()
    await e.start()
    yield e
    await e.stop()


TRANSPORTS = pytest.mark.parametrize("transport", [LeanRequest, AiohttpRequest], ids=["lean", "aiohttp"])


def aio_bot(emu: TelegramEmulator, limiter: PriorityRateLimiter | None = None,
            transport: type[LeanRequest] | type[AiohttpRequest] = LeanRequest) -> Bot:
    if limiter is None:
        return Bot(emu.token, base_url=emu.base_url, request=transport(64),
                   get_updates_request=transport(2))
    return ExtBot(emu.token, base_url=emu.base_url, request=transport(64),
                  get_updates_request=transport(2), rate_limiter=limiter)


@TRANSPORTS
async def test_request_many_in_flight(emu: TelegramEmulator, transport) -> None:
    async with aio_bot(emu, transport=transport) as bot:
        for uid in range(300):
            emu.user(10_000 + uid)
        sent = await asyncio.gather(*(bot.send_message(10_000 + uid, f"Câu {uid} — Rất hài lòng ✓")
                                      for uid in range(300)))
        assert len({m.message_id for m in sent}) == 1  # one message per chat
        assert emu.messages(10_123)[0].text == "Câu 123 — Rất hài lòng ✓"


@TRANSPORTS
async def test_request_multipart_and_long_poll(emu: TelegramEmulator, transport) -> None:
    async with aio_bot(emu, transport=transport) as bot:
        user = emu.user(20)
        doc = await bot.send_document(20, document=b"\x00\x01binary", filename="phieu.xlsx", caption="Phiếu")
        assert emu.files[doc.document.file_id] == b"\x00\x01binary"
        poll = asyncio.create_task(bot.get_updates(timeout=3))
        await asyncio.sleep(0.05)
        await user.send_text("5")
        ups = await asyncio.wait_for(poll, 3)
        assert ups[0].message.text == "5"


@TRANSPORTS
async def test_request_network_error(transport) -> None:
    bot = Bot("1:x", base_url="http://127.0.0.1:9/bot", request=transport(2, connect_timeout=1))
    with pytest.raises(NetworkError):
        async with bot:
            pass


@TRANSPORTS
async def test_request_requires_initialize(transport) -> None:
    req = transport()
    with pytest.raises(RuntimeError):
        await req.do_request("http://127.0.0.1:9/", "POST")


async def test_limiter_keeps_within_flood_limits(emu: TelegramEmulator) -> None:
    emu.limits = FloodLimits(enabled=True, global_per_s=30, per_chat_per_s=5, per_chat_burst=2)
    # a little under the server's rate, as in production (clocks of both sides differ slightly)
    limiter = PriorityRateLimiter(overall_per_s=30, per_chat_per_s=4.5, per_chat_burst=2)
    async with aio_bot(emu, limiter) as bot:
        emu.user(30)
        t0 = time.monotonic()
        await asyncio.gather(*(bot.send_message(30, f"m{i}") for i in range(7)))
        elapsed = time.monotonic() - t0
    assert emu.stats["429"] == 0 and limiter.retries == 0
    assert [m.text for m in emu.messages(30)] == [f"m{i}" for i in range(7)]  # in order
    assert elapsed >= 0.9  # 2 at once, then 5 more at 5/s


async def test_limiter_puts_interactive_before_bulk(emu: TelegramEmulator) -> None:
    limiter = PriorityRateLimiter(overall_per_s=20, per_chat_per_s=100, per_chat_burst=100)
    async with aio_bot(emu, limiter) as bot:
        for uid in range(100, 160):
            emu.user(uid)
        # the first 20 invites take the full bucket, the other 30 queue
        bulk = [asyncio.create_task(bot.send_message(uid, "Lời mời", rate_limit_args={"priority": "bulk"}))
                for uid in range(100, 150)]
        await asyncio.sleep(0.05)
        inter = [asyncio.create_task(bot.send_message(uid, "Câu tiếp theo")) for uid in range(150, 160)]
        done_inter = await asyncio.gather(*inter)
        pending_bulk = sum(not t.done() for t in bulk)
        await asyncio.gather(*bulk)
    assert len(done_inter) == 10
    # the 10 interactive replies overtook the queued invites: many invites were still waiting
    assert pending_bulk >= 15


async def test_limiter_honours_retry_after(emu: TelegramEmulator) -> None:
    # the server is stricter than the limiter: it answers 429 and the limiter waits and retries
    emu.limits = FloodLimits(enabled=True, global_per_s=30, per_chat_per_s=1, per_chat_burst=1)
    limiter = PriorityRateLimiter(overall_per_s=30, per_chat_per_s=50, per_chat_burst=50, max_retries=3)
    async with aio_bot(emu, limiter) as bot:
        emu.user(40)
        await bot.send_message(40, "1")
        await bot.send_message(40, "2")
    assert emu.stats["429"] >= 1 and limiter.retries >= 1
    assert [m.text for m in emu.messages(40)] == ["1", "2"]


async def test_limiter_gives_up_after_bounded_retries(emu: TelegramEmulator) -> None:
    emu.limits = FloodLimits(enabled=True, global_per_s=30, per_chat_per_s=0.01, per_chat_burst=1)
    limiter = PriorityRateLimiter(overall_per_s=30, per_chat_per_s=50, per_chat_burst=50, max_retries=0)
    async with aio_bot(emu, limiter) as bot:
        emu.user(41)
        await bot.send_message(41, "1")
        with pytest.raises(RetryAfter):
            await bot.send_message(41, "2")


async def test_limiter_raises_forbidden_through(emu: TelegramEmulator) -> None:
    limiter = PriorityRateLimiter()
    async with aio_bot(emu, limiter) as bot:
        emu.user(50)
        emu.block(50)
        t0 = time.monotonic()
        with pytest.raises(Forbidden):
            await bot.send_message(50, "xin chào")
        assert time.monotonic() - t0 < 1.0
    assert limiter.retries == 0


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HAILONG_TELEGRAM_TOKEN", "42:abc")
    monkeypatch.setenv("HAILONG_STAFF_IDS", "7, 8;9")
    monkeypatch.setenv("HAILONG_TELEGRAM_BASE_URL", "http://127.0.0.1:8081/bot")
    s = Settings()
    assert s.staff_ids == [7, 8, 9] and s.is_staff(8) and not s.is_staff(10) and not s.is_staff("x")
    assert s.telegram_token is not None and "42:abc" not in repr(s)
    assert s.timezone == "Asia/Ho_Chi_Minh" and s.signing_key() == Settings().signing_key()
    (tmp_path / ".env").write_text("HAILONG_TIMEZONE=Mars/Olympus\n")
    with pytest.raises(ValueError, match="time zone"):
        Settings()


# ---------------------------------------------------------------- LeanRequest's HTTP/1.1 handling

class ScriptedServer:
    """A loopback HTTP server answering each request with the next scripted raw response.

    A script entry is bytes (sent as is), ``"close"`` (close without answering), ``"hang"``
    (never answer) or a callable ``(writer) -> awaitable`` for split or slow answers.
    Records each request (head, body) and each new connection.
    """

    def __init__(self, script: list) -> None:
        self.script = list(script)
        self.requests: list[tuple[str, bytes]] = []
        self.connections = 0
        self.server: asyncio.AbstractServer | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> "ScriptedServer":
        if self.server is None:
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for w in self.writers:
            w.close()
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot1:x/sendMessage"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                text = head.decode("latin-1")
                length = next((int(line.split(":", 1)[1]) for line in text.split("\r\n")
                               if line.lower().startswith("content-length:")), 0)
                body = await reader.readexactly(length)
                self.requests.append((text, body))
                step = self.script.pop(0)
                if step == "close":
                    writer.close()
                    return
                if step == "hang":
                    await asyncio.sleep(30)
                    return
                if callable(step):
                    await step(writer)
                else:
                    writer.write(step)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return


def ok(body: bytes = b'{"ok":true,"result":true}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def lean(**kw) -> LeanRequest:
    req = LeanRequest(4, **kw)
    await req.initialize()
    return req


async def test_lean_keep_alive_reuses_one_connection_and_sends_json() -> None:
    from telegram.request import RequestData
    from telegram.request._requestparameter import RequestParameter

    async with ScriptedServer([ok(), ok(), ok()]) as srv:
        req = await lean()
        data = RequestData([RequestParameter.from_input("chat_id", 7),
                            RequestParameter.from_input("text", "Rất hài lòng ✓"),
                            RequestParameter.from_input("reply_markup", {"inline_keyboard": [[{"text": "1"}]]})])
        for _ in range(3):
            assert await req.do_request(srv.url, "POST", data) == (200, b'{"ok":true,"result":true}')
        await req.shutdown()
    assert srv.connections == 1 and len(srv.requests) == 3
    head, body = srv.requests[0]
    assert head.startswith("POST /bot1:x/sendMessage HTTP/1.1\r\n") and f"Host: 127.0.0.1:{srv.port}" in head
    assert "application/json" in head
    import json
    assert json.loads(body) == {"chat_id": 7, "text": "Rất hài lòng ✓",
                                "reply_markup": {"inline_keyboard": [[{"text": "1"}]]}}


async def test_lean_chunked_split_and_close_delimited_answers() -> None:
    async def split_chunked(writer: asyncio.StreamWriter) -> None:
        for part in (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n", b"\r\n5\r\n{\"ok\"",
                     b"\r\n", b"11;ext=1\r\n:true,\"result\":1}\r\n0\r\n", b"X-Trailer: y\r\n\r\n"):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.01)

    async def until_close(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ok\":true,")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"\"result\":2}")
        writer.close()

    interim = b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b'{"ok":true,"result":3}')
    async with ScriptedServer([split_chunked, interim, until_close, ok(b"{}")]) as srv:
        req = await lean()
        assert await req.do_request(srv.url, "POST") == (200, b'{"ok":true,"result":1}')
        assert await req.do_request(srv.url, "POST") == (200, b'{"ok":true,"result":3}')
        assert srv.connections == 1
        assert await req.do_request(srv.url, "POST") == (200, b'{"ok":true,"result":2}')
        assert await req.do_request(srv.url, "POST") == (200, b"{}")   # a new connection
        await req.shutdown()
    assert srv.connections == 2


async def test_lean_connection_close_and_server_drop() -> None:
    async with ScriptedServer([ok(extra=b"Connection: close\r\n"), ok(), "close", ok()]) as srv:
        req = await lean()
        assert (await req.do_request(srv.url, "POST"))[0] == 200
        assert (await req.do_request(srv.url, "POST"))[0] == 200    # reconnected
        with pytest.raises(NetworkError):
            await req.do_request(srv.url, "POST")                   # closed without an answer
        assert (await req.do_request(srv.url, "POST"))[0] == 200    # and a fresh connection works
        await req.shutdown()
    assert srv.connections == 3


async def test_lean_timeouts_errors_and_pool_limit() -> None:
    from telegram.error import TimedOut

    garbage = b"SSH-2.0-OpenSSH\r\n\r\n"
    async with ScriptedServer(["hang", garbage, ok(b"x" * 10, extra=b"Content-Length: 3\r\n"), ok()]) as srv:
        req = await lean(read_timeout=0.2)
        with pytest.raises(TimedOut):
            await req.do_request(srv.url, "POST")
        with pytest.raises(NetworkError, match="not HTTP"):
            await req.do_request(srv.url, "POST")
        with pytest.raises(NetworkError):
            await req.do_request(srv.url, "POST")                   # more bytes than announced
        assert (await req.do_request(srv.url, "POST"))[0] == 200
        await req.shutdown()
    # a pool of one: the second request waits for the first, then times out on the pool
    async with ScriptedServer(["hang"]) as srv:
        req = LeanRequest(1, read_timeout=1.0, pool_timeout=0.1)
        await req.initialize()
        first = asyncio.create_task(req.do_request(srv.url, "POST"))
        await asyncio.sleep(0.05)
        with pytest.raises(TimedOut, match="Pool"):
            await req.do_request(srv.url, "POST")
        with pytest.raises(TimedOut):
            await first
        await req.shutdown()
    with pytest.raises(NetworkError, match="unsupported"):
        await (await lean()).do_request("ftp://example.org/x", "POST")


async def test_lean_error_statuses_reach_ptb(emu: TelegramEmulator) -> None:
    async with aio_bot(emu) as bot:
        emu.user(60)
        emu.block(60)
        with pytest.raises(Forbidden):
            await bot.send_message(60, "xin chào")
        assert (await bot.get_me()).username == emu.bot.username


async def test_lean_https_with_a_private_ca(tmp_path) -> None:
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    srv = ScriptedServer([ok(), ok()])
    srv.server = await asyncio.start_server(srv._serve, "127.0.0.1", 0, ssl=server_ctx)
    srv.port = srv.server.sockets[0].getsockname()[1]
    url = srv.url.replace("http://", "https://")
    async with srv:
        untrusted = await lean()
        with pytest.raises(NetworkError):
            await untrusted.do_request(url, "POST")       # the system store does not know our CA
        trusted = LeanRequest(2, ssl_context=ssl.create_default_context(cafile=str(cert)))
        await trusted.initialize()
        assert await trusted.do_request(url, "POST") == (200, b'{"ok":true,"result":true}')
        assert await trusted.do_request(url, "POST") == (200, b'{"ok":true,"result":true}')
        await trusted.shutdown()
        await untrusted.shutdown()
    assert srv.connections >= 1 and len(srv.requests) == 2
