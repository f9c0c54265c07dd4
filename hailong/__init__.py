"""The hailong app: the ``hailong`` command (``cli``), ``hailong run`` (``run``: the channels, the
outbox and the reminder scheduler in one process), the staff web console (``console``) and the
configuration reference."""
