"""custody: archive web pages as sealed, verifiable evidence."""

__version__ = "0.1.0"
