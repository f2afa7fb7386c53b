"""trafilatura, with what its helpers build on first use kept in the user's cache folder.

A process that extracted one small page paid more for trafilatura's first call than for
the page: justext's stoplists (100 files, 154,000 words, read and lowercased, then
lowercased again and hashed whole on every justext call) and the public suffix list tld
parses into a trie of 10,000 rules for courlan. Both depend only on the installed
libraries, so they are kept in ``$XDG_CACHE_HOME/custody/extract`` under a name that
carries those libraries' versions, and handed back where the libraries look for them:
tld's public names container; trafilatura's stoplist global and the function that fills
it, and justext's ``define_stoplist``, told that the stoplist is lowercased already.
What extraction computes from them is unchanged: the same words, the same trie.

A cache file carries its own digest: a corrupt or half-written one is rebuilt, never
used; processes that build one at the same time each write a file of their own and
rename it into place. Where the folder cannot be written, the libraries build what they
need themselves, as before.

trafilatura imports py3langid (and numpy with it) when it is installed, only to filter
pages by a target language, which custody never asks for; it is kept out of that import.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from collections.abc import Callable
from functools import cache
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

_FORMAT = b"custody-cache 1\n"


def cache_dir() -> Path | None:
    """Where the cache lives; None when there is no home to keep it in."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative path is to be ignored
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no HOME, and no password entry to find one
            return None
    return Path(base) / "custody" / "extract"


@cache
def trafilatura() -> ModuleType:
    """The trafilatura module, its helpers' first-use work read from the cache."""
    blocked = "py3langid" not in sys.modules
    if blocked:
        sys.modules["py3langid"] = None  # type: ignore[assignment]  # import raises
    try:
        import trafilatura as module
        import trafilatura.external
    finally:
        if blocked:
            del sys.modules["py3langid"]
    _prepare_stoplist(module.external)
    _prepare_suffixes()
    return module


def _versions(*packages: str) -> str:
    return hashlib.sha256(repr([sys.version_info[:2], *(f"{p} {version(p)}" for p in packages)])
                          .encode()).hexdigest()[:16]


def read(name: str) -> bytes | None:
    """A cached payload, or None when it is missing, unreadable or damaged."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        data = (folder / name).read_bytes()
    except OSError:
        return None
    head, _, rest = data.partition(b"\n")
    digest, _, payload = rest.partition(b"\n")
    if head + b"\n" != _FORMAT or hashlib.sha256(payload).hexdigest().encode() != digest:
        return None
    return payload


def write(name: str, payload: bytes) -> None:
    """Keep a payload; a cache that cannot be written is no error."""
    import tempfile

    folder = cache_dir()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_FORMAT + hashlib.sha256(payload).hexdigest().encode() + b"\n"
                         + payload)
            os.replace(tmp, folder / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass


def _prepare_stoplist(external: Any) -> None:
    """Every justext stoplist in one set, for the pages whose language trafilatura is not
    told (all of custody's): read from the cache the first time a page needs it."""
    import justext.core

    build = getattr(external, "jt_stoplist_init", None)
    define = getattr(justext.core, "define_stoplist", None)
    if not callable(build) or not callable(define) or not hasattr(external, "JT_STOPLIST"):
        return  # another layout than the one this was written for: leave it be
    name = f"justext-stoplist-{_versions('trafilatura', 'jusText')}.txt"
    loaded: list[frozenset[str]] = []

    def stoplist() -> frozenset[str]:
        if not loaded:
            loaded.append(_stoplist(name, build))
        external.JT_STOPLIST = loaded[0]
        return loaded[0]

    def define_stoplist(words: Any) -> frozenset[str]:
        # the set from the cache is lowercased already: lowercasing it again on the first
        # call cost as much as reading it
        return words if loaded and words is loaded[0] else define(words)

    external.jt_stoplist_init = stoplist
    justext.core.define_stoplist = define_stoplist


def _stoplist(name: str, build: Callable[[], Any]) -> frozenset[str]:
    payload = read(name)
    if payload is not None:
        try:
            return frozenset(payload.decode("utf-8").split("\n"))
        except UnicodeDecodeError:
            pass
    words = frozenset(word.lower() for word in build())
    text = "\n".join(sorted(words))
    if frozenset(text.split("\n")) == words:  # no word holds a line break, or is empty
        write(name, text.encode("utf-8"))
    return words


def _prepare_suffixes() -> None:
    """tld's trie of the public suffix list, through its public names container."""
    from tld.trie import Trie, TrieNode
    from tld.utils import MozillaTLDSourceParser, get_tld_names, update_tld_names_container

    path = MozillaTLDSourceParser.local_path
    name = f"tld-trie-{_versions('tld')}.marshal"
    payload = read(name)
    if payload is not None:
        try:
            count, root = marshal.loads(payload)
            trie: Any = Trie()
            trie.root = _node(root, TrieNode)
            trie._Trie__nodes = int(count)  # what len() of the trie tells
            update_tld_names_container(path, trie)
            return
        except (ValueError, TypeError, EOFError, AttributeError, RecursionError):
            pass
    names = get_tld_names(fail_silently=True)
    built = None if names is None else names.get(path)
    if built is not None:
        write(name, marshal.dumps((len(built), _flat(built.root))))


def _flat(node: Any) -> tuple[Any, ...]:
    children = None if node.children is None else {
        part: _flat(child) for part, child in node.children.items()}
    return (node.exception, node.leaf, node.private, children)


def _node(flat: tuple[Any, ...], kind: type) -> Any:
    exception, leaf, private, children = flat
    if not (exception is None or isinstance(exception, str)) or not isinstance(leaf, bool) \
            or not isinstance(private, bool):
        raise TypeError("not a trie node")
    node = kind()
    node.exception, node.leaf, node.private = exception, leaf, private
    if children is not None:
        node.children = {str(part): _node(child, kind) for part, child in children.items()}
    return node
