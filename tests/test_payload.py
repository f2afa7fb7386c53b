"""The one body decoder: chunked transfer coding, gzip and deflate, fed whole or a byte at
a time, bounded against bombs."""

from __future__ import annotations

import gzip
import zlib

import pytest

from custody.warc.payload import BodyDecoder, decode, split_head

TEXT = ("Statement on the situation — ایران — Заявление. " * 200).encode()


def chunked(data: bytes, size: int = 100, extension: bool = False) -> bytes:
    out = b""
    for i in range(0, len(data), size):
        piece = data[i : i + size]
        out += f"{len(piece):x}{';ext=1' if extension else ''}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\nTrailer: x\r\n\r\n"


ENCODINGS = {
    "identity": lambda b: b,
    "gzip": gzip.compress,
    "deflate": zlib.compress,  # zlib-wrapped, as RFC 9110 says
    "raw-deflate": lambda b: zlib.compress(b)[2:-4],  # as many servers send it
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("chunks", [False, True])
@pytest.mark.parametrize("step", [1, 7, 100_000])
def test_every_coding_fed_in_any_pieces(encoding: str, chunks: bool, step: int) -> None:
    body = ENCODINGS[encoding](TEXT)
    if chunks:
        body = chunked(body, extension=step == 7)
    name = "deflate" if encoding == "raw-deflate" else encoding
    decoder = BodyDecoder(chunked=chunks, encoding=name, limit=1 << 20)
    for i in range(0, len(body), step):
        decoder.feed(body[i : i + step])
    decoder.finish()
    assert decoder.error is None and not decoder.exceeded
    assert decoder.body() == TEXT


def test_a_gzip_bomb_is_cut_at_the_bound() -> None:
    bomb = gzip.compress(b"\0" * (20 << 20))
    decoder = BodyDecoder(chunked=False, encoding="gzip", limit=1 << 20)
    for i in range(0, len(bomb), 4096):
        decoder.feed(bomb[i : i + 4096])
    assert decoder.exceeded and len(decoder.body()) == 1 << 20


def test_broken_framing_and_unknown_codings() -> None:
    not_chunked = decode(b"plain text, not chunks", [("Transfer-Encoding", "chunked")], 100)
    assert not_chunked.body() == b"plain text, not chunks"
    unknown = decode(b"...", [("Content-Encoding", "br")], 100)
    assert unknown.error and "br" in unknown.error
    garbage = decode(b"\x1f\x8b not gzip at all", [("Content-Encoding", "gzip")], 100)
    assert garbage.error


def test_split_head() -> None:
    status, headers, rest = split_head(b"HTTP/1.1 404 Not Found\r\nA: b\r\nC:d\r\n\r\nbody")  # type: ignore[misc]
    assert status == 404 and headers == [("A", "b"), ("C", "d")] and rest == b"body"
    assert split_head(b"SSH-2.0-OpenSSH\r\n\r\n") is None
