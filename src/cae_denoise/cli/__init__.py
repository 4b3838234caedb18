"""The command line: the Typer app (``app``), its options declared once (``options``), progress bars and
tables (``progress``, ``tables``). No logic of its own: each command is a few lines over a library function."""
