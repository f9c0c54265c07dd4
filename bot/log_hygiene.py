"""No secret in the logs of ``hailong run``, whatever the HTTP transport.

The Bot APIs put the bot token in every request URL (``…/bot<token>/sendMessage``), and some
libraries log request URLs at INFO: httpx (PTB's default transport) logs one line per request,
which wrote the token 16 times in 12 s. Two layers keep secrets out:

1. :data:`QUIET_LOGGERS`: third-party loggers that print URLs or per-request chatter are raised to
   WARNING (their warnings and errors still show).
2. :class:`RedactingFilter`, installed on the root handlers by :func:`install`: a safety net that
   replaces the configured secrets (bot tokens, webhook and signing secrets, also URL-quoted) in
   every record, its arguments and its traceback, whatever logger it came from, and at every
   level. Short values (< :data:`MIN_SECRET_LEN`) are not redacted: they cannot be real tokens
   and replacing them would garble every line.

Project code logs respondent ids, never chat ids, invite tokens or card codes at INFO and above
(chat ids only at DEBUG); tests/bot/telegram/test_telegram_logs.py and tests/bot/zalo/test_zalo_logs.py grep whole runs' logs
for all of them.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable
from urllib.parse import quote, unquote, urlsplit

from pydantic import SecretStr

#: Third-party loggers kept at WARNING in the bot process (they log request URLs or per-job chatter).
QUIET_LOGGERS: dict[str, int] = {"httpx": logging.WARNING, "httpcore": logging.WARNING,
                                 "apscheduler": logging.WARNING}
MIN_SECRET_LEN = 8
MASK = "***"


def secrets_of(settings: Any) -> list[str]:
    """Every secret value in ``settings`` (its ``SecretStr`` fields that are set)."""
    out: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr):
            out.append(value.get_secret_value())
    db = getattr(settings, "db", None)
    if isinstance(db, str) and "://" in db:          # a PostgreSQL URL's password
        try:
            password = urlsplit(db).password
        except ValueError:
            password = None
        if password:
            out.extend({password, unquote(password)})
    return out


class Redactor:
    """Replaces known secrets (and their URL-quoted forms) in text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        variants: set[str] = set()
        for s in secrets:
            if s and len(s) >= MIN_SECRET_LEN:
                variants.update({s, quote(s, safe=""), quote(s)})
        self._secrets = sorted(variants, key=len, reverse=True)   # longest first: no partial leftovers

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            if s in text:
                text = text.replace(s, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self._secrets)


class RedactingFilter(logging.Filter):
    """A handler filter that masks secrets in the message, the arguments and the traceback."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redact = redactor
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def quiet_third_party_loggers() -> None:
    """Raise the loggers of :data:`QUIET_LOGGERS` to their level (never lower one)."""
    for name, level in QUIET_LOGGERS.items():
        logger = logging.getLogger(name)
        if logger.level < level:
            logger.setLevel(level)


def install(level: int, secrets: Iterable[str]) -> Redactor:
    """Configure logging for the bot process: stderr at ``level``, third-party URL loggers quiet,
    secrets redacted on every root handler. Returns the redactor (also for console messages)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_third_party_loggers()
    redactor = Redactor(secrets)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(redactor))
    return redactor
