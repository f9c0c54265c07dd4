"""Why ``hailong run`` could not start: one bilingual line, and an exit code a supervisor can act on.

Exit codes:

* ``2`` (:data:`EXIT_CONFIG`): the configuration is wrong (a missing or rejected token, an invalid
  webhook URL, invalid settings). Restarting does not help until an operator fixes it.
* ``75`` (:data:`EXIT_TEMPORARY`, ``EX_TEMPFAIL`` of sysexits.h): the Bot API cannot be reached,
  another ``hailong run`` serves the database, the webhook port is taken. It may pass.

Decision: start-up does not retry by itself. The process exits within seconds and the supervisor
restarts it after its delay (systemd ``Restart=always`` + ``RestartSec=``, as in the README), which
is already a backoff, keeps one place for the policy and leaves one clear line per attempt in the
journal. Once a channel runs, network errors are retried in place (PTB's polling loop, the Zalo
poll loop's exponential backoff, the senders' retries), so a network blip never stops the bot.
"""

from __future__ import annotations

import errno
from typing import Any, Callable
from urllib.parse import urlsplit

EXIT_CONFIG = 2
EXIT_TEMPORARY = 75


class StartupError(Exception):
    """A start-up failure explained for the operator (``message`` is bilingual, one line)."""

    def __init__(self, message: str, exit_code: int = EXIT_CONFIG) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


#: A channel's explanation of an exception raised by its ``start()`` (given the settings): None if
#: it does not know it.
Explain = Callable[[BaseException, Any], "StartupError | None"]


def api_host(url: str) -> str:
    """The host[:port] of a Bot API URL, never its path (the token may travel there)."""
    return urlsplit(url).netloc or "?"


def explain_common(exc: BaseException) -> StartupError | None:
    """Failures any channel can meet: the webhook's listening address is in use or not allowed."""
    if isinstance(exc, OSError) and exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
        return StartupError(f"không mở được cổng cho webhook / cannot listen for the webhook: {exc}",
                            EXIT_TEMPORARY)
    return None


def unreachable(api: str, host: str, reason: str) -> StartupError:
    """The one line for a Bot API that cannot be reached (temporary: the supervisor retries)."""
    return StartupError(f"không kết nối được tới {api} ({host}); sẽ thử lại khi được khởi động lại / "
                        f"cannot reach the {api} ({host}): {reason}; exiting so that the service "
                        f"manager restarts the bot later", EXIT_TEMPORARY)


def rejected_token(api: str, host: str, variable: str) -> StartupError:
    """The one line for a token the Bot API refuses (configuration: restarting will not help)."""
    return StartupError(f"{api} ({host}) từ chối token của bot, hãy kiểm tra {variable} (và địa chỉ API) / "
                        f"the {api} ({host}) rejected the bot token: check {variable} (and the API URL)",
                        EXIT_CONFIG)
