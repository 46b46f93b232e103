"""The ``telemed`` commands, one module per command or group; ``telemed_cli.main`` registers
them on the root app. Imports are lazy inside each command (see ``telemed_cli.main``)."""
