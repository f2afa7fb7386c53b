"""Text that came from a page, a file or another tool, fit to print on a terminal.

A title, an address or a failure's reason is whatever a site chose: an escape sequence
in it would rewrite the investigator's screen, a line break would forge a line of
custody's output, and a bidirectional override or isolate (the "Trojan Source" trick)
would make it read otherwise than it is. Those are shown escaped (``\\x1b``,
``\\u202e``); the joiners and direction marks Persian and Arabic are written with (ZWNJ,
ZWJ, LRM, RLM, ALM) are kept, as is every other character.
"""

from __future__ import annotations

import os
import unicodedata

# the overrides and embeddings (LRE, RLE, PDF, LRO, RLO) and the isolates (LRI, RLI, FSI,
# PDI)
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ESCAPED = ("Cc", "Zl", "Zp")


def for_terminal(text: str) -> str:
    if text.isprintable() or not any(unicodedata.category(ch) in _ESCAPED or
                                     ch in BIDI_CONTROLS for ch in text):
        return text
    return "".join(ascii(ch)[1:-1] if unicodedata.category(ch) in _ESCAPED or
                   ch in BIDI_CONTROLS else ch for ch in text)


def bidi_escaped(text: str) -> str:
    """Only the bidirectional overrides, embeddings and isolates escaped (``\\u202e``):
    for running text shown in a page, whose line breaks are its own."""
    if not any(ch in BIDI_CONTROLS for ch in text):
        return text
    return "".join(ascii(ch)[1:-1] if ch in BIDI_CONTROLS else ch for ch in text)


def path_text(path: str | os.PathLike[str]) -> str:
    """A file's path as text: its bytes that are not UTF-8 (a name made on another
    system) written ``\\xff``, where they would stop any UTF-8 output or file, and a
    backslash of its own doubled, so that no two names are written alike."""
    return os.fsencode(path).replace(b"\\", b"\\\\").decode("utf-8",
                                                            errors="backslashreplace")


def shown_path(path: str | os.PathLike[str]) -> str:
    """A file's path fit to print: ``path_text``, with line breaks and escapes escaped."""
    return for_terminal(path_text(path))
