"""The hailong app: the ``hailong`` command (``cli``), ``hailong run`` (``run``: the channels, the
outbox and the reminder scheduler in one process) and the configuration reference."""
