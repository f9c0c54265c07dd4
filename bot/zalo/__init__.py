"""The Zalo channel (Zalo Bot API): ``channel`` (the adapter and its runner), ``client`` (the
HTTP client), ``pacer`` (rate limits, replies before bulk), ``sender`` (the outbox's Zalo sender)."""
