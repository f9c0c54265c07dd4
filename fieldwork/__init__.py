"""Fieldwork: what staff do to reach the sampled households between the draw and the analysis:
invitation links and texts, printed cards, the outbox loop that sends invites, reminders and
notices at each channel's rate, the reminder schedule, dispositions (AAPOR outcomes) and the staff
commands (``hailong invites …``, ``hailong send``, ``hailong recheck …``). Channels plug their
senders into the outbox (``bot/telegram/sender.py``, ``bot/zalo/sender.py``)."""
