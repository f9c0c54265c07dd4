"""Channels only: ``conversation`` (the pipeline every channel shares), ``console``,
``telegram/``, ``zalo/``; plus what the channels need around them (``settings``,
``startup_errors``, ``webhook_guard``, ``log_hygiene``)."""
