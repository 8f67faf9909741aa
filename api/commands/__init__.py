"""Subcommands of `fenster`, one module per area (see api.cli.COMMAND_MODULES)."""
