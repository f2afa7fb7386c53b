"""A page's text carried through trafilatura character for character.

trafilatura changes text in two ways that matter to evidence:

- it keeps a character only when ``str.isprintable()`` or ``str.isspace()`` says so:
  it must drop the C0 controls, which lxml (XML) cannot hold, and with them it drops
  every format character -- the zero-width non-joiner Persian writes inside words
  (روزنامه‌نگاران), the zero-width joiner, the bidi marks (U+200E, U+200F, U+061C),
  the soft hyphen -- and every private-use code point;
- it unescapes its output text once more, after the HTML parser already did: a page
  that shows ``&lt;p&gt;`` or ``AT&amp;T`` (as a page about HTML does) comes out as
  ``<p>`` or ``AT&T``, and one that shows ``&zwnj;`` as a ZWNJ.

Changing trafilatura's filter would change it for every other user in the process, and
its helpers are cached and imported under several names. Instead, the page is parsed
as trafilatura parses it (its own ``load_html``), and in the tree each such character,
and each ``&`` of the text, is replaced by a stand-in: a printable letter from a block no
page in custody's languages uses (Cuneiform), and one the page does not contain, so the
replacement is one-to-one and reversible. trafilatura is given the tree; each string it
gives back has its stand-ins turned back into the characters they stand for. A stand-in
is one letter for one character, so text lengths, and the extraction decisions
trafilatura bases on them, are what they would be without the filter. A script's or a
style's ``&`` is left alone: JSON-LD metadata is entity-escaped on purpose.

C0 controls (and U+FFFE, U+FFFF) stay dropped: no XML tree can hold them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_POOL = range(0x12000, 0x12399)  # Cuneiform signs: printable letters, one per character
_CODE = frozenset({"script", "style"})


def dropped(char: str) -> bool:
    """Whether trafilatura would drop the character though an XML tree can hold it."""
    return not (char.isprintable() or char.isspace()) and char >= " " \
        and char not in "\ufffe\uffff" and not "\ud800" <= char <= "\udfff"


@dataclass
class Marks:
    """The stand-ins used for one page, and the way back."""

    stand_in: dict[str, str] = field(default_factory=dict)  # character -> its stand-in

    def __post_init__(self) -> None:
        self._back = {ord(s): c for c, s in self.stand_in.items()}

    def restore(self, value: Any) -> Any:
        """A string (or a list of them) with its stand-ins turned back; else as it is."""
        if not self._back:
            return value
        if isinstance(value, str):
            return value.translate(self._back)
        if isinstance(value, list):
            return [self.restore(item) for item in value]
        return value


# where a string is: an element's text, its tail, or an attribute (never named with a NUL)
_TEXT, _TAIL = "\0text", "\0tail"


def _strings(tree: Any) -> list[tuple[Any, str, bool]]:
    """Every string of the tree that may reach the text: (element, where, in code)."""
    found: list[tuple[Any, str, bool]] = []
    for element in tree.iter():
        if not isinstance(element.tag, str):  # a comment or processing instruction
            if element.tail:
                found.append((element, _TAIL, False))
            continue
        if element.text:
            found.append((element, _TEXT, element.tag in _CODE))
        if element.tail:
            found.append((element, _TAIL, False))
        found += [(element, name, True) for name in element.attrib]
    return found


def protect(tree: Any) -> Marks:
    """Put stand-ins into the parsed page (in place); how to take them out again."""
    strings = _strings(tree)
    values = [_get(element, where) for element, where, _ in strings]
    present: set[str] = set()
    for value in values:
        present.update(value)
    wanted = {char for char in present if dropped(char)}
    if "&" in present:
        wanted.add("&")
    if not wanted:
        return Marks()
    free = [chr(code) for code in _POOL if chr(code) not in present]
    # a page with more distinct such characters than there are stand-ins (private-use
    # icon fonts, say) keeps the first ones; the rest are dropped as they were before
    stand_in = dict(zip(sorted(wanted), free, strict=False))
    table = {ord(c): s for c, s in stand_in.items()}
    in_code = {ord(c): s for c, s in stand_in.items() if c != "&"}
    for (element, where, code), value in zip(strings, values, strict=True):
        changed = value.translate(in_code if code else table)
        if changed != value:
            _set(element, where, changed)
    return Marks(stand_in)


def _get(element: Any, where: str) -> str:
    if where == _TEXT:
        return str(element.text)
    if where == _TAIL:
        return str(element.tail)
    return str(element.get(where))


def _set(element: Any, where: str, value: str) -> None:
    if where == _TEXT:
        element.text = value
    elif where == _TAIL:
        element.tail = value
    else:
        element.set(where, value)
