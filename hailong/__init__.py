"""hailong, the application: the ``hailong`` command, the process that runs the channels, and the
staff web console (``hailong.console``). Imports every package below it; nothing imports it."""
