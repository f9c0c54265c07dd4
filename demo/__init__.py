"""The whole-round demo (``make demo`` / ``python -m demo``), its simulated citizens and the local
Telegram and Zalo API emulators. Outside the runtime packages: no citizen ever touches it, and no
runtime package imports it (tests/test_import_rule.py)."""
