"""A manifest's head scanned from its file equals the head parsed whole, at any chunk size,
and a file that is no manifest is found as one."""

from __future__ import annotations

from pathlib import Path

import pytest

from custody.seal import head_scan, manifest

HEAD = {"format": manifest.FORMAT, "chain": {"sequence": 3, "previous_sha256": "ab"},
        "frontier_left": 12345, "title": "روزنامه\u200cنگاران", "stopped": None,
        "imported": [{"source": "a.warc", "records_listed": 2}]}
RECORDS = [{"index": i, "url": "http://example.org/" + "é" * (i * 37 % 3000)}
           for i in range(2000)]


@pytest.mark.parametrize("chunk", [7, 4096, 1 << 20])
def test_the_head_scanned_is_the_head_parsed(tmp_path: Path, chunk: int,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(head_scan, "CHUNK", chunk)
    path = tmp_path / "20261205T000000Z-aaaaaaaa.json"
    path.write_bytes(b"".join(manifest.stream_bytes(HEAD, {"records": RECORDS,
                                                          "documents": []})))
    whole, scanned = manifest.read(path), manifest.read_head(path)
    assert scanned.readable and scanned.problem is None
    assert (scanned.sha256, scanned.leaf_hash, scanned.size, scanned.head) == (
        whole.sha256, whole.leaf_hash, whole.size, whole.head)
    assert scanned.content == whole.content  # read again, whole, when asked for


@pytest.mark.parametrize("data", [b'{"format": 1', b'{"frontier_left": 12', b"[1, 2]",
                                  b'{"records": [1, 2', b'{"a": 1} x', b"", b"\xff{}",
                                  b'{"format": "custody-manifest/1", "records": [1,, 2]}'])
def test_what_is_no_manifest_is_found_alike(tmp_path: Path, data: bytes,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(head_scan, "CHUNK", 5)
    path = tmp_path / "20261205T000000Z-aaaaaaaa.json"
    path.write_bytes(data)
    whole, scanned = manifest.read(path), manifest.read_head(path)
    assert whole.problem and scanned.problem and not scanned.readable
    assert (scanned.sha256, scanned.size) == (whole.sha256, whole.size)
