"""The manifest: what one capture holds, written once, atomically, and signed.

A manifest is canonical JSON (sorted keys, UTF-8, two-space indent, final newline)
so that the same content always gives the same bytes, and the signature and the
hash chain are over those exact bytes. Each manifest names the sha256 of the one
sealed before it and carries the next sequence number.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..core.atomic import replace_durably
from ..core.capture_ids import check_capture_id
from ..core.errors import ArchiveError, NotFound, UsageError
from .held import LISTS, Sealed, forget, make_room  # noqa: F401 (read from here too)

FORMAT = "custody-manifest/1"


def to_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def when(text: str | None) -> datetime | None:
    """A time as a manifest writes it (ISO 8601, Z); None when absent or unreadable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def manifest_path(manifests_dir: Path, capture_id: str) -> Path:
    return manifests_dir / f"{check_capture_id(capture_id)}.json"


def read(path: Path, *, lazy: bool = False) -> Sealed:
    capture_id = path.name.removesuffix(".json")
    data = path.read_bytes()
    if lazy:
        make_room(len(data))
    try:
        content = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        return Sealed(capture_id, path, data, None, f"not valid JSON: {exc}", lazy=lazy)
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        return Sealed(capture_id, path, data, None, f"not a {FORMAT} manifest", lazy=lazy)
    return Sealed(capture_id, path, data, content, lazy=lazy)


def read_head(path: Path) -> Sealed:
    """A manifest read lazily, its head scanned from the file without parsing its lists
    (head_scan): what sealing reads of a manifest of any size. Its content, if asked for,
    is read again and parsed whole."""
    from .head_scan import scan

    found = scan(path)
    sealed = Sealed(path.name.removesuffix(".json"), path, None, None, lazy=True)
    sealed.sha256, sealed.leaf_hash, sealed.size = found.sha256, found.leaf_hash, found.size
    head = found.head
    if head is None or head.get("format") != FORMAT:
        sealed.problem = found.problem or f"not a {FORMAT} manifest"
        return sealed
    sealed.readable = True
    sealed.head = {k: v for k, v in head.items() if k not in LISTS}
    return sealed


def read_capture(manifests_dir: Path, capture_id: str) -> tuple[Sealed, dict[str, Any]]:
    """The capture's manifest and its content; NotFound, ArchiveError when it cannot be
    read, or EvidenceFails (exit 1) when what it holds is no manifest, or it is gone and
    the ledger names it: a sealed manifest is never rewritten nor removed."""
    from ..core.errors import EvidenceFails

    path = manifest_path(manifests_dir, capture_id)
    if not path.exists():
        from .ledger import Ledger

        if capture_id in Ledger(manifests_dir).leaf_ids():  # sealed once: removed since
            raise EvidenceFails("the ledger names this capture, and its manifest is gone "
                                "(custody verify says more)", where=capture_id)
        raise NotFound("no such capture", where=capture_id)
    try:
        sealed = read(path)
    except OSError as exc:
        raise ArchiveError(f"the manifest cannot be read ({exc.strerror or exc})",
                           where=str(path)) from exc
    if sealed.content is None:
        raise EvidenceFails(f"{sealed.problem or 'not a manifest'}: changed since it was "
                            "sealed (custody verify says more)", where=str(path))
    return sealed, sealed.content


def unsealed_file(root: Path, content: dict[str, Any]) -> str | None:
    """What is wrong with the first of the capture's WARC files that is missing or not
    the one its manifest seals (its sha256); None when they are all as sealed."""
    from ..warc.scan import file_sha256

    for entry in content.get("warc_files") or []:
        path = root / str(entry.get("path"))
        if not path.is_file():
            return f"{entry.get('path')} is missing"
        if file_sha256(path)[1] != entry.get("sha256"):
            return f"{entry.get('path')} is not the file its manifest seals"
    return None


def imported_packages(content: dict[str, Any]) -> list[str]:
    """The WACZ packages an import capture holds (their paths): files that replay and
    export cannot take as WARC files."""
    return [str(item.get("path")) for item in content.get("imported") or []
            if isinstance(item, dict) and ((item.get("check") or {}).get("format")) == "wacz"]


def paths(manifests_dir: Path) -> list[Path]:
    """Every manifest file, by name (a dot file is a manifest still being written)."""
    return sorted(p for p in manifests_dir.glob("*.json") if not p.name.startswith("."))


def read_all(manifests_dir: Path, *, lazy: bool = False) -> list[Sealed]:
    """Every manifest, in chain order (sequence, then name for unreadable ones);
    ``lazy``: each holding only its head (see Sealed), so that memory stays bounded
    however many there are."""
    found = [read(p, lazy=lazy) for p in paths(manifests_dir)]
    return sorted(found, key=lambda m: (m.sequence is None, m.sequence or 0, m.capture_id))


def chain_head(manifests_dir: Path) -> tuple[int, str | None]:
    """The sequence number and sha256 of the newest sealed manifest (0, None when none)."""
    sealed = [m for m in read_all(manifests_dir, lazy=True) if m.sequence is not None]
    if not sealed:
        return 0, None
    newest = max(sealed, key=lambda m: m.sequence or 0)
    return newest.sequence or 0, newest.sha256


_FILE_FIELDS = {"path": str, "bytes": int, "sha256": str}
_RECORD_FIELDS = {"warc_path": str, "offset": int, "length": int, "record_id": str,
                  "type": str, "block_sha256": str, "member_sha256": str}


def warc_layout(content: Any) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """A manifest's WARC files by path, and their records by path, in offset order.

    ValueError names the first entry that lacks a field verification reads, or holds
    a value of the wrong type.
    """
    if not isinstance(content, dict):
        raise ValueError("not an object")
    warc_files, records = content.get("warc_files"), content.get("records")
    if not isinstance(warc_files, list) or not isinstance(records, list):
        raise ValueError("missing field 'warc_files' or 'records'")
    for i, entry in enumerate(warc_files):
        _check_fields(entry, _FILE_FIELDS, f"warc_files[{i}]")
    by_file: dict[str, list[dict[str, Any]]] = {}
    for i, record in enumerate(records):
        try:  # the common case, quickly; the field at fault is named below
            whole = (type(record["offset"]) is int and type(record["length"]) is int
                     and type(record["warc_path"]) is str and type(record["record_id"]) is str
                     and type(record["type"]) is str and type(record["block_sha256"]) is str
                     and type(record["member_sha256"]) is str)
        except (KeyError, TypeError, IndexError):
            whole = False
        if not whole:
            _check_fields(record, _RECORD_FIELDS, f"records[{i}]")
        by_file.setdefault(record["warc_path"], []).append(record)
    for listed in by_file.values():
        listed.sort(key=lambda r: r["offset"])
    return {f["path"]: f for f in warc_files}, by_file


def _check_fields(entry: Any, fields: dict[str, type], what: str) -> None:
    if not isinstance(entry, dict):
        raise ValueError(f"{what} is not an object")
    for name, kind in fields.items():
        value = entry.get(name)
        if type(value) is not kind:
            raise ValueError(f"{what} lacks {name!r} or it is not a {kind.__name__}")


def sha256sums(entries: list[tuple[str, str]]) -> bytes:
    """A file `sha256sum -c` reads: '<hex>  <path>' per line, paths relative to the root."""
    return "".join(f"{digest}  {path}\n" for path, digest in entries).encode()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2)


def stream_bytes(head: dict[str, Any],
                 lists: Mapping[str, Iterable[dict[str, Any]]]) -> Iterator[bytes]:
    """The bytes ``to_bytes`` gives for ``head`` plus the lists, without holding the lists.

    A crawl's records are read from disk one at a time; the output is the same
    canonical JSON, byte for byte (a test holds the two together).
    """
    keys = sorted([*head, *lists])
    yield b"{"
    for index, key in enumerate(keys):
        yield ("\n  " + json.dumps(key, ensure_ascii=False) + ": ").encode()
        if key in head:
            yield _dumps(head[key]).replace("\n", "\n  ").encode()
        else:
            first = True
            for item in lists[key]:
                yield b"[\n    " if first else b",\n    "
                yield _dumps(item).replace("\n", "\n    ").encode()
                first = False
            yield b"[]" if first else b"\n  ]"
        if index < len(keys) - 1:
            yield b","
    yield b"\n}\n"


@dataclass
class Written:
    tmp_path: Path
    sha256: str
    sha512: bytes
    size: int


def write_streamed(path: Path, chunks: Iterable[bytes]) -> Written:
    """Write the manifest under a temporary name, hashing as it goes; `commit` renames it."""
    tmp = path.with_name(f".{path.name}.tmp")
    sha256, sha512, size = hashlib.sha256(), hashlib.sha512(), 0
    with open(tmp, "wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
            sha256.update(chunk)
            sha512.update(chunk)
            size += len(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    return Written(tmp, sha256.hexdigest(), sha512.digest(), size)


def commit(written: Written, path: Path) -> None:
    replace_durably(written.tmp_path, path)


def credentials_file(root: Path, content: dict[str, Any], wanted: bool) -> Path | None:
    """The capture's credentials file (the values redacted in its WARC) when ``wanted``;
    UsageError when it is wanted and the capture has none, or it is gone."""
    if not wanted:
        return None
    held = (content.get("redactions") or {}).get("credentials_file")
    if not held:
        raise UsageError("--include-credentials: this capture redacted no credentials",
                         where=content.get("capture_id"))
    path = root / held["path"]
    if not path.is_file():
        raise UsageError(f"--include-credentials: {held['path']} is gone",
                         where=content.get("capture_id"))
    return path
