"""The Telegram channel (python-telegram-bot): ``channel`` (the adapter), ``callback`` (button
data), ``transport`` (PTB's HTTP over aiohttp), ``ratelimit`` (replies before bulk), ``updates``
(durable polling), ``sender`` (the outbox's Telegram sender)."""
