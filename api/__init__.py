"""fenster: a maintenance directory for hosting providers."""

__version__ = "0.1.0"
