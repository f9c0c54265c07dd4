"""Local stand-ins for the Telegram Bot API (``telegram``) and the Zalo Bot API (``zalo``) on
127.0.0.1, for the demo, the tests, the benchmarks and staff rehearsals."""
