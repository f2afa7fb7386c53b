"""Checking a WACZ package: the ZIP, datapackage.json's list of files with their sizes
and hashes, datapackage-digest.json's hash of it and the signatures it carries
(wacz-auth's ``signedData``; custody's own SSH signature), and every WARC inside,
record by record, as a WARC file on its own is checked.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.terminal import for_terminal
from ..verify.report import FAILED, PASSED, UNCHECKED
from . import waczauth
from .findings import CheckReport

CUSTODY_SIGNATURE = "custody-signature"  # as export writes it
_OWN = {"datapackage.json", "datapackage-digest.json"}
# what is read whole, at most (a member that inflates past it is refused, not read: a ZIP
# bomb's datapackage.json inflates to a gigabyte from a megabyte); a real WACZ's
# datapackage.json is a few KB per WARC it lists, its digest file and signers a few KB
MAX_PACKAGE = 4 * 1024 * 1024
MAX_SMALL = 1024 * 1024
MAX_ENTRIES = 100_000  # ZIP entries: zipfile holds each one's header in memory


@dataclass
class PackageResult:
    report: CheckReport  # where its rows go, the package's own row first
    failed: bool = False
    notes: list[str] = field(default_factory=list)
    warcs: list[str] = field(default_factory=list)  # the WARC entries, to be read as WARCs
    stored: dict[str, int] = field(default_factory=dict)  # entry -> offset of its bytes

    def add(self, check: str, subject: str, outcome: str, detail: str = "") -> None:
        self.report.add(check, subject, outcome, detail)
        self.failed = self.failed or outcome == FAILED

    def end(self, check: str, subject: str, outcome: str, detail: str) -> None:
        self.report.end(check, subject, outcome, detail)


def check(path: Path, name: str,
          report: CheckReport) -> tuple[PackageResult, zipfile.ZipFile | None]:
    """The package checked, its rows in ``report``; and the ZIP, open, to read its WARCs
    (None when it cannot be read)."""
    result = PackageResult(report)
    report.begin()
    entries_said = entry_count(path)
    if entries_said is not None and entries_said > MAX_ENTRIES:
        result.end("wacz", name, FAILED, f"the ZIP says it holds {entries_said} entries, more "
                   f"than custody reads ({MAX_ENTRIES}): not read")
        return result, None
    try:
        package = zipfile.ZipFile(path)
        infos = package.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        result.end("wacz", name, FAILED, f"not a readable ZIP file ({exc})")
        return result, None
    if len(infos) > MAX_ENTRIES:
        package.close()
        result.end("wacz", name, FAILED, f"holds {len(infos)} entries, more than custody reads "
                   f"({MAX_ENTRIES}): not read")
        return result, None
    entries = {i.filename: i for i in infos}
    if len(entries) != len(infos):
        result.add("wacz", name, FAILED, "the ZIP holds two entries of the same name")
    for info in infos:
        if _escapes(info.filename):
            result.add("wacz", f"{name}!{for_terminal(info.filename[:200])}", FAILED,
                       "an entry named to be written outside the folder it is unpacked in "
                       "(an absolute path, a drive, or a .. step): a tool that unpacks the "
                       "package would write it there")
    if "datapackage.json" not in entries:
        result.end("wacz", name, FAILED, "no datapackage.json: not a WACZ package")
        return result, package
    try:
        raw = read_bounded(package, entries["datapackage.json"], MAX_PACKAGE)
        data = json.loads(raw)
        resources = data["resources"]
        if not isinstance(resources, list):
            raise TypeError("resources is not a list")
    except (ValueError, KeyError, TypeError, RecursionError, zipfile.BadZipFile, OSError,
            EOFError) as exc:
        result.end("wacz", f"{name}!datapackage.json", FAILED, f"cannot be read ({exc})")
        return result, package
    version = data.get("wacz_version")
    if version is None:
        result.notes.append(f"{name}: datapackage.json names no wacz_version")
    _resources(package, entries, resources, name, result)
    _structure(entries, name, result)
    _digest(package, entries, raw, name, result)
    for info in infos:
        if info.filename.startswith("archive/") and not info.is_dir():
            result.warcs.append(info.filename)
            if info.compress_type == zipfile.ZIP_STORED:
                result.stored[info.filename] = _data_offset(path, info)
            else:
                result.notes.append(f"{name}!{info.filename}: compressed in the ZIP, where "
                                    "the WACZ spec stores WARCs as they are (replay tools "
                                    "cannot seek into it)")
    summary = f"WACZ {version or '(no version)'}, {len(resources)} files listed"
    result.end("wacz", name, FAILED if result.failed else PASSED, summary)
    return result, package


def _resources(package: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo],
               resources: list[Any], name: str, result: PackageResult) -> None:
    listed = set()
    unhashed = 0
    for item in resources:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            result.add("wacz-file", f"{name}!datapackage.json", FAILED,
                       f"a resource without a path: {str(item)[:80]}")
            continue
        entry = item["path"]
        listed.add(entry)
        subject = f"{name}!{entry}"
        stats: dict[str, Any] = item["stats"] if isinstance(item.get("stats"), dict) else {}
        claimed = item.get("hash") or stats.get("hash") or ""
        size = item.get("bytes", stats.get("bytes"))
        info = entries.get(entry)
        if info is None:
            result.add("wacz-file", subject, FAILED, "listed in datapackage.json, but the "
                       "WACZ does not hold it")
            continue
        problems = []
        if isinstance(size, int) and not isinstance(size, bool) and size != info.file_size:
            problems.append(f"{info.file_size} bytes, datapackage.json says {size}")
        if not claimed:
            unhashed += 1
            result.add("wacz-file", subject, FAILED if problems else PASSED,
                       "; ".join(problems) or "no hash given")
            continue
        algorithm, sep, value = str(claimed).partition(":")
        if not sep:
            algorithm, value = str(item.get("hashing") or "sha256"), str(claimed)
        algorithm = algorithm.lower().replace("-", "")
        if algorithm not in hashlib.algorithms_available:
            result.add("wacz-file", subject, UNCHECKED, f"hash algorithm {algorithm!r} unknown")
            continue
        digest = hashlib.new(algorithm)
        with package.open(info) as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != value.lower():
            problems.append(f"{algorithm} {digest.hexdigest()}, datapackage.json says {value}")
        result.add("wacz-file", subject, FAILED if problems else PASSED,
                   "; ".join(problems) or f"{algorithm} matches")
    if unhashed:
        result.notes.append(f"{name}: datapackage.json gives no hash for {unhashed} files: "
                            "only their presence (and the WARCs' own digests) is checked")
    extra = sorted(e for e in entries if e not in listed and e not in _OWN
                   and not entries[e].is_dir())
    if extra:
        result.notes.append(f"{name}: not listed in datapackage.json: " + ", ".join(extra[:10])
                            + (f" and {len(extra) - 10} more" if len(extra) > 10 else ""))


def is_package(path: Path) -> bool:
    """Whether a file that begins as a ZIP is a WACZ, however damaged else: its entries
    (from its central directory, or, in one cut short, from the entries' own headers, in
    order) include datapackage.json or a file under archive/. A file that only begins
    with "PK", or a ZIP of anything else, is no WACZ (import refuses it, damaged or not)."""
    import os
    import struct

    try:
        with zipfile.ZipFile(path) as package:
            return any(_in_package(i.filename) for i in package.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        pass
    try:  # cut short: no central directory; walk the local headers from the start
        with open(path, "rb") as fh:
            for _ in range(10_000):
                head = fh.read(30)
                if len(head) < 30 or head[:4] != b"PK\x03\x04":
                    return False
                (_, _, flags, _, _, _, _, size, _, name_length,
                 extra_length) = struct.unpack("<4sHHHHHIIIHH", head)
                if _in_package(fh.read(name_length).decode("utf-8", errors="replace")):
                    return True
                if flags & 0x08:  # sizes after the data: the next header cannot be found
                    return False
                fh.seek(extra_length + size, os.SEEK_CUR)
    except OSError:
        pass
    return False


def _in_package(name: str) -> bool:
    return name == "datapackage.json" or (name.startswith("archive/") and
                                          not name.endswith("/"))


def _escapes(filename: str) -> bool:
    """Whether a ZIP entry's name would put it outside the folder it is unpacked in."""
    parts = filename.replace("\\", "/").split("/")
    return filename.startswith(("/", "\\")) or ".." in parts or \
        (len(filename) > 1 and filename[1] == ":")


def _structure(entries: dict[str, zipfile.ZipInfo], name: str, result: PackageResult) -> None:
    if not any(e.startswith("archive/") and not entries[e].is_dir() for e in entries):
        result.add("wacz", f"{name}!archive/", FAILED, "holds no WARC file")
    if not any(e.startswith("indexes/") and not entries[e].is_dir() for e in entries):
        result.add("wacz", f"{name}!indexes/", FAILED, "holds no index (CDX or CDXJ)")
    if "pages/pages.jsonl" not in entries:
        result.notes.append(f"{name}: no pages/pages.jsonl (replay shows no page list)")


def _digest(package: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo], raw: bytes,
            name: str, result: PackageResult) -> None:
    subject = f"{name}!datapackage-digest.json"
    if "datapackage-digest.json" not in entries:
        result.notes.append(f"{name}: no datapackage-digest.json: the package list itself is "
                            "not hashed or signed")
        return
    try:
        digest = json.loads(read_bounded(package, entries["datapackage-digest.json"],
                                         MAX_SMALL))
        claimed = str(digest["hash"])
    except (ValueError, KeyError, TypeError, RecursionError, zipfile.BadZipFile, OSError,
            EOFError) as exc:
        result.add("wacz-digest", subject, FAILED, f"cannot be read ({exc})")
        return
    actual = "sha256:" + hashlib.sha256(raw).hexdigest()
    if claimed.lower() != actual:
        result.add("wacz-digest", subject, FAILED,
                   f"says datapackage.json hashes to {claimed}; it hashes to {actual}")
    else:
        result.add("wacz-digest", subject, PASSED, "datapackage.json's sha256 matches")
    signed = digest.get("signedData")
    if isinstance(signed, dict):
        outcome, detail = waczauth.check(signed, claimed)
        result.add("wacz-signature", subject, outcome, detail)
    custody = digest.get(CUSTODY_SIGNATURE)
    if isinstance(custody, dict):
        outcome, detail = _custody_signature(custody, raw, package, entries)
        result.add("wacz-signature", subject, outcome, detail)
    if not isinstance(signed, dict) and not isinstance(custody, dict):
        result.notes.append(f"{name}: the package is not signed")


def _custody_signature(signed: dict[str, Any], raw: bytes, package: zipfile.ZipFile,
                       entries: dict[str, zipfile.ZipInfo]) -> tuple[str, str]:
    """custody's SSH signature over datapackage.json's bytes, by a key the package's own
    custody/allowed_signers names for the principal."""
    from ..core import sshsig
    from ..core.allowed_signers import read_allowed_signers

    try:
        signature = sshsig.parse_signature(str(signed["signature"]))
    except (KeyError, ValueError) as exc:
        return FAILED, f"custody signature cannot be read ({exc})"
    fp = sshsig.fingerprint(signature.public_key)
    if signature.namespace != sshsig.MANIFEST_NAMESPACE or not signature.verifies(raw):
        return FAILED, f"custody signature by {fp} does not match datapackage.json"
    principal = str(signed.get("principal"))
    if "custody/allowed_signers" not in entries:
        return UNCHECKED, f"valid signature by {fp}, but no custody/allowed_signers names it"
    import tempfile

    try:
        listed = read_bounded(package, entries["custody/allowed_signers"], MAX_SMALL)
    except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
        return FAILED, f"custody/allowed_signers cannot be read ({exc})"
    with tempfile.NamedTemporaryFile() as fh:
        fh.write(listed)
        fh.flush()
        signers = read_allowed_signers(Path(fh.name))
    blob = sshsig.public_key_blob(signature.public_key)
    if not any(sshsig.public_key_blob(s.public_key) == blob and principal in s.principals
               for s in signers):
        return FAILED, f"signed by {fp}, which custody/allowed_signers does not give to " \
                       f"{principal!r}"
    return PASSED, f"signed by {principal} {fp} (custody)"


def read_bounded(package: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A member's bytes, read whole only when they inflate to at most ``limit`` bytes
    (whatever the ZIP claims its size is); ValueError otherwise."""
    with package.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"it inflates to more than {limit} bytes ({info.file_size} said, "
                         f"{info.compress_size} stored): not read")
    return data


def entry_count(path: Path) -> int | None:
    """How many entries the ZIP's end of central directory says it holds (its ZIP64 record
    when there is one), before zipfile reads them all; None when it cannot be found."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 65_557))  # the record (22) and the longest comment after it
        tail = fh.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) < at + 22:
            return None
        count = int.from_bytes(tail[at + 10 : at + 12], "little")
        locator = tail.rfind(b"PK\x06\x07", 0, at)
        if count == 0xFFFF and locator >= 0 and len(tail) >= locator + 20:
            fh.seek(int.from_bytes(tail[locator + 8 : locator + 16], "little"))
            record = fh.read(56)
            if record[:4] == b"PK\x06\x06" and len(record) == 56:
                return int.from_bytes(record[32:40], "little")
        return count


def _data_offset(path: Path, info: zipfile.ZipInfo) -> int:
    """Where a stored entry's bytes begin in the ZIP file: after its local header."""
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)
    name_length = int.from_bytes(local[26:28], "little")
    extra_length = int.from_bytes(local[28:30], "little")
    return info.header_offset + 30 + name_length + extra_length
