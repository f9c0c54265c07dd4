"""Configuration of the chat channels, from environment variables, a ``.env`` file and CLI flags.

One ``Settings`` object serves every channel (Telegram now, Zalo next): shared fields (database,
time zone, staff, listen address) plus one block of fields per channel, each prefixed with the
channel name. Environment variables are ``HAILONG_<FIELD>`` (e.g. ``HAILONG_TELEGRAM_TOKEN``,
``HAILONG_DB``); ``.env`` in the working directory is read too. CLI flags override both.

Secrets (tokens, webhook secret) are ``SecretStr`` so that they never appear in logs or reprs.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing_extensions import Annotated

from storage.claims import ClaimPolicy
from storage.dialect import parse_db_url

_CLAIMS = ClaimPolicy()   # the defaults live there, once (docs/credentials.md explains them)


#: What Telegram accepts as a webhook secret_token (1-256 of these characters); 8 at least here,
#: like Zalo's rule, so that a secret cannot be guessed by posting to the webhook.
_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{8,256}")


def _parse_ids(value: object) -> object:
    """``"1, 2 3"`` → ``[1, 2, 3]``: staff ids are easy to paste from a spreadsheet."""
    if isinstance(value, str):
        parts = [p for p in value.replace(",", " ").replace(";", " ").split() if p]
        try:
            return [int(p) for p in parts]
        except ValueError:
            raise ValueError("mã nhân viên phải là số / staff ids must be numbers, e.g. 12345,67890") from None
    if isinstance(value, int):
        return [value]
    return value


class Settings(BaseSettings):
    """Every setting has a safe default except the bot token (needed only to run a channel)."""

    model_config = SettingsConfigDict(env_prefix="HAILONG_", env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore", validate_default=True)

    # ---- shared
    db: str = Field("hailong.db", description="Database: a SQLite file (path or sqlite:///path) or a "
                                              "postgresql:// URL (several workers, docs/durability.md §7)")
    timezone: str = Field("Asia/Ho_Chi_Minh", description="Time zone for dates shown and schedules")
    scheduler_lease_s: float = Field(30.0, ge=1, le=3600,
                                     description="Several workers on PostgreSQL: reminders and deadlines move to "
                                                 "another worker within 4/3 of this when theirs dies")
    outbox_lease_s: float = Field(60.0, ge=1, le=3600,
                                  description="An outbox message claimed by a sender that died is sent again after "
                                              "this (keep it above the longest send)")
    staff_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="Chat user ids allowed to use staff commands (/status)")
    listen_host: str = Field("127.0.0.1", description="Address the webhook server listens on")
    listen_port: int = Field(8443, ge=0, le=65535, description="Port the webhook server listens on")
    callback_secret: SecretStr | None = Field(
        None, description="Key for signing button data (default: derived from the bot token, so "
                          "buttons stay valid across restarts and differ between bots)")
    idle_sweep_interval_s: float = Field(3600.0, gt=0, description="How often idle conversations are closed")
    default_expiry_days: float = Field(14.0, gt=0, description="Idle days before a conversation closes as partial")
    log_level: str = Field("INFO")

    # ---- invitation claims (storage/claims.py, docs/credentials.md)
    claim_chat_failures: int = Field(
        _CLAIMS.chat_failures, ge=1, description="Wrong invitation codes one chat may send per window before it waits")
    claim_chat_window_s: float = Field(
        _CLAIMS.chat_window_s, gt=0, description="Window (seconds) for a chat's wrong codes")
    claim_channel_failures_per_hour: int = Field(
        _CLAIMS.channel_failures_per_hour, ge=1,
        description="Failed code look-ups per channel per hour before every claim on it waits")
    claim_campaign_failures_per_hour: int = Field(
        _CLAIMS.campaign_failures_per_hour, ge=1,
        description="Failed look-ups per channel per hour that mean a guessing campaign (logged, shown by "
                    "status --problems, claims slowed)")
    claim_campaign_spacing_s: float = Field(
        _CLAIMS.campaign_spacing_s, ge=0, description="During a guessing campaign: seconds between two look-ups "
                                                      "on the channel")
    handover_timeout_s: float = Field(
        _CLAIMS.handover_timeout_s, ge=0,
        description="Seconds the holder of an invitation has to allow or refuse its move to another chat; after "
                    "that the new chat continues with the earlier answers hidden")

    # ---- Telegram
    telegram_token: SecretStr | None = Field(None, description="Bot token from @BotFather")
    telegram_base_url: str = Field("https://api.telegram.org/bot",
                                   description="Bot API base URL (a self-hosted server or the emulator)")
    telegram_base_file_url: str = Field("https://api.telegram.org/file/bot")
    telegram_mode: Literal["polling", "webhook"] = Field("polling")
    telegram_webhook_url: str | None = Field(None, description="Public HTTPS URL Telegram posts updates to")
    telegram_webhook_path: str = Field("/telegram", description="Path of the webhook on our server")
    telegram_webhook_secret: SecretStr | None = Field(
        None, description="Secret token Telegram sends in X-Telegram-Bot-Api-Secret-Token "
                          "(required in webhook mode; 8-256 characters A-Z a-z 0-9 _ -)")
    telegram_transport: Literal["lean", "aiohttp", "httpx"] = Field(
        "lean", description="HTTP client for the Bot API: lean (bot.telegram.transport.LeanRequest, least CPU), "
                            "aiohttp, or httpx (PTB's default)")
    telegram_pool_size: int = Field(256, ge=1, description="Connections to the Bot API")
    telegram_rate_overall: float = Field(30.0, gt=0, description="Messages per second overall")
    telegram_rate_per_chat: float = Field(1.0, gt=0, description="Messages per second per chat")
    telegram_rate_burst: float = Field(3.0, ge=1, description="Back-to-back messages allowed per chat")
    telegram_rate_limit: bool = Field(True, description="Pace outgoing messages (off only for benchmarks)")
    telegram_max_retries: int = Field(3, ge=0, description="Retries after a 429 before giving up")
    telegram_poll_interval: float = Field(
        0.0, ge=0, le=5, description="Pause between polls: under load updates arrive in batches "
                                      "(fewer requests, less CPU) for at most this added latency")
    telegram_poll_timeout: int = Field(20, ge=0, le=50, description="Long-polling timeout in seconds")

    # ---- the questionnaire page (bot/web): Telegram Mini App and links in chats
    page_public_url: str | None = Field(
        None, description="Public HTTPS URL of the questionnaire page prefix, e.g. https://khaosat.example.vn/p "
                          "(unset: no page, no Mini App button)")
    page_prefix: str = Field("/p", pattern=r"^/[A-Za-z0-9_-]{1,32}$",
                             description="Path prefix of the page on the webhook server")
    page_secret: SecretStr | None = Field(
        None, description="Key signing page links and forms (default: derived from the callback secret or a bot "
                          "token, so links in chats stay valid across restarts)")
    page_init_data_max_age_s: float = Field(
        3600.0, gt=0, description="How old a Telegram Mini App's initData may be (seconds)")

    # ---- Zalo (Zalo Bot API; see bot/zalo/client.py)
    zalo_token: SecretStr | None = Field(None, description="Zalo bot token (from the Zalo Bot Manager)")
    zalo_base_url: str = Field("https://bot-api.zaloplatforms.com",
                               description="Zalo Bot API base URL (old host https://bot-api.zapps.me, or the emulator)")
    zalo_mode: Literal["polling", "webhook"] = Field("polling")
    zalo_webhook_url: str | None = Field(None, description="Public HTTPS URL Zalo posts events to")
    zalo_webhook_path: str = Field("/zalo", description="Path of the Zalo webhook on our server")
    zalo_webhook_secret: SecretStr | None = Field(
        None, description="Secret Zalo sends in X-Bot-Api-Secret-Token (8-256 characters)")
    zalo_listen_port: int = Field(8444, ge=0, le=65535, description="Port the Zalo webhook server listens on")
    zalo_rate_overall: float = Field(10.0, gt=0, description="Zalo messages per second overall")
    zalo_rate_per_chat: float = Field(1.0, gt=0, description="Zalo messages per second per chat")
    zalo_rate_burst: float = Field(3.0, ge=1, description="Back-to-back Zalo messages allowed per chat")
    zalo_rate_limit: bool = Field(True, description="Pace outgoing Zalo messages (off only for benchmarks)")
    zalo_max_retries: int = Field(5, ge=0, description="Retries after a 429 or network error before giving up")
    zalo_poll_timeout: int = Field(30, ge=1, le=60, description="Zalo long-polling timeout in seconds")

    @field_validator("staff_ids", mode="before")
    @classmethod
    def _ids(cls, value: object) -> object:
        return _parse_ids(value)

    @field_validator("db", mode="before")
    @classmethod
    def _db(cls, value: object) -> object:
        """A path or a URL, kept as text: ``Path("postgresql://h/db")`` would fold the ``//``."""
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, str):
            parse_db_url(value)          # an unknown scheme or an empty value: a clear error now
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"múi giờ không hợp lệ / unknown time zone {value!r} (e.g. Asia/Ho_Chi_Minh)") from None
        return value

    @field_validator("telegram_base_url", "telegram_base_file_url", "zalo_base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("địa chỉ phải bắt đầu bằng http:// hoặc https:// / URL must start with http(s)://")
        return value

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> "Settings":
        if self.telegram_mode == "webhook" and not (self.telegram_webhook_url and self.telegram_webhook_secret):
            raise ValueError("chế độ webhook của Telegram cần HAILONG_TELEGRAM_WEBHOOK_URL và "
                             "HAILONG_TELEGRAM_WEBHOOK_SECRET (không có mã bí mật thì ai cũng gửi được tin giả) / "
                             "Telegram webhook mode needs HAILONG_TELEGRAM_WEBHOOK_URL and "
                             "HAILONG_TELEGRAM_WEBHOOK_SECRET (without a secret anyone could post forged updates)")
        if self.telegram_webhook_secret is not None and not _TELEGRAM_SECRET.fullmatch(
                self.telegram_webhook_secret.get_secret_value()):
            raise ValueError("HAILONG_TELEGRAM_WEBHOOK_SECRET phải dài 8–256 ký tự, chỉ gồm A-Z a-z 0-9 _ - / "
                             "must be 8 to 256 characters of A-Z a-z 0-9 _ -")
        if self.zalo_mode == "webhook" and not (self.zalo_webhook_url and self.zalo_webhook_secret):
            raise ValueError("chế độ webhook của Zalo cần HAILONG_ZALO_WEBHOOK_URL và HAILONG_ZALO_WEBHOOK_SECRET / "
                             "Zalo webhook mode needs HAILONG_ZALO_WEBHOOK_URL and HAILONG_ZALO_WEBHOOK_SECRET")
        if self.zalo_webhook_secret is not None and not 8 <= len(self.zalo_webhook_secret.get_secret_value()) <= 256:
            raise ValueError("HAILONG_ZALO_WEBHOOK_SECRET phải dài 8–256 ký tự / must be 8 to 256 characters")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def signing_key(self, channel: str = "telegram") -> bytes:
        """The key for callback data: the configured secret, else one derived from the bot token."""
        if self.callback_secret is not None:
            return self.callback_secret.get_secret_value().encode("utf-8")
        token = self.telegram_token.get_secret_value() if channel == "telegram" and self.telegram_token else ""
        if not token:
            raise ValueError("cần HAILONG_CALLBACK_SECRET hoặc token của bot / set HAILONG_CALLBACK_SECRET "
                             "or the bot token")
        return hashlib.sha256(b"hailong-callback-v1|" + token.encode("utf-8")).digest()

    def page_key(self) -> bytes:
        """The key of page tickets and CSRF tokens: the page secret, else one derived from the
        callback secret or a bot token (stable across restarts, different per deployment)."""
        if self.page_secret is not None:
            return self.page_secret.get_secret_value().encode("utf-8")
        for secret in (self.callback_secret, self.telegram_token, self.zalo_token):
            if secret is not None:
                return hashlib.sha256(b"hailong-page-v1|" + secret.get_secret_value().encode("utf-8")).digest()
        raise ValueError("cần HAILONG_PAGE_SECRET hoặc token của bot / set HAILONG_PAGE_SECRET or a bot token")

    def claim_policy(self) -> ClaimPolicy:
        """The claim limits and hand-over timeout the conversation store enforces."""
        return ClaimPolicy(chat_failures=self.claim_chat_failures, chat_window_s=self.claim_chat_window_s,
                           channel_failures_per_hour=self.claim_channel_failures_per_hour,
                           campaign_failures_per_hour=self.claim_campaign_failures_per_hour,
                           campaign_spacing_s=self.claim_campaign_spacing_s,
                           handover_timeout_s=self.handover_timeout_s,
                           keep_s=max(_CLAIMS.keep_s, self.claim_chat_window_s))

    def is_staff(self, user_id: int | str | None) -> bool:
        try:
            return user_id is not None and int(user_id) in self.staff_ids
        except (TypeError, ValueError):
            return False
