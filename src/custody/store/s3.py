"""One S3-compatible bucket and prefix: the calls custody makes, retried across outages.

``s3://BUCKET/PREFIX`` names the store; the endpoint and credentials are boto3's own
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``... or its config files), so any
S3-compatible service serves. Every call of a worker is retried until the store answers
again, with one note per outage on standard error; a command run by hand (``verify
--store``, ``pull``) gives up after ``patience`` seconds with StoreError.

Writes that order the archive are conditional (``If-Match``/``If-None-Match``, which
S3 has offered since 2024 and S3-compatible servers follow): a ledger written by two
workers at once, or by one that lost the seal lock while paused, is refused by the
store itself rather than overwritten.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..core.errors import StoreError, UsageError

T = TypeVar("T")
_WAIT_MAX = 2.0


@dataclass(frozen=True)
class StoreURL:
    bucket: str
    prefix: str  # "" or "a/b/" (always ending in "/")

    @classmethod
    def parse(cls, url: str) -> StoreURL:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise UsageError("a store is an s3://BUCKET/PREFIX URL", where=url)
        prefix = parts.path.strip("/")
        if any(piece in ("", ".", "..") for piece in prefix.split("/")) and prefix:
            raise UsageError("the store's prefix has an empty, '.' or '..' part", where=url)
        return cls(parts.netloc, f"{prefix}/" if prefix else "")

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, relative: str) -> str:
        return self.prefix + relative


UNCHANGED = b""  # the bytes get() gives for an object still at the ETag it was asked about


class Conflict(StoreError):
    """A conditional write refused: the object is not what this writer last saw."""


class ShortObject(Exception):
    """A read from a byte on of an object that does not reach that byte."""


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def md5_etag(data: bytes) -> str:
    return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'


class Store:
    def __init__(self, url: str, *, patience: float | None = None,
                 say: Callable[[str], None] | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.url = StoreURL.parse(url)
        self.patience = patience  # None: a worker's way, wait for as long as it takes
        self.say = say or (lambda text: print(f"custody: {text}", file=sys.stderr,
                                               flush=True))
        timeout = float(os.environ.get("CUSTODY_S3_TIMEOUT", "30"))
        config = Config(connect_timeout=min(timeout, 10), read_timeout=timeout,
                        retries={"max_attempts": 1, "mode": "standard"},
                        request_checksum_calculation="when_required",
                        response_checksum_validation="when_required")
        try:
            self.client: Any = boto3.client("s3", config=config)
        except Exception as exc:
            raise StoreError(f"cannot use the store: {_reason(exc)}", where=str(self.url)) \
                from exc
        # for the benchmark and the tests: requests, bytes of objects read and written,
        # objects read (their bodies; a GET that says "unchanged" reads none)
        self.calls = 0
        self.received = 0
        self.sent = 0
        self.reads = 0

    # -- patience ------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], T]) -> T:
        from botocore.exceptions import BotoCoreError, ClientError

        wait, told, started = 0.05, False, time.monotonic()
        while True:
            self.calls += 1
            try:
                result = call()
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                code = exc.response.get("Error", {}).get("Code", "")
                if code in ("PreconditionFailed", "ConditionalRequestConflict") or \
                        status == 412:
                    raise Conflict(f"{what}: the store holds a newer version",
                                   where=str(self.url)) from exc
                if status < 500 and code not in ("SlowDown", "RequestTimeout"):
                    message = exc.response.get("Error", {}).get("Message", "")
                    raise StoreError(f"{what}: {code or status}: {message}".rstrip(": "),
                                     where=str(self.url)) from exc
                problem: BaseException = exc
            except BotoCoreError as exc:
                problem = exc
            else:
                if told:
                    self.say("the store answers again")
                return result
            if self.patience is not None and time.monotonic() - started > self.patience:
                raise StoreError(f"the store does not answer ({_reason(problem)})",
                                 where=str(self.url)) from problem
            if not told:
                self.say(f"the store does not answer ({_reason(problem)}); waiting for it")
                told = True
            time.sleep(wait)
            wait = min(wait * 2, _WAIT_MAX)

    # -- calls ---------------------------------------------------------------------------

    def check(self) -> None:
        """That the bucket is there and can be read: StoreError (one line) otherwise."""
        self._call("open the bucket", lambda: self.client.head_bucket(Bucket=self.url.bucket))

    def head(self, relative: str) -> dict[str, Any] | None:
        """The object's ETag and size, or None when there is none."""
        from botocore.exceptions import ClientError

        key = self.url.key(relative)

        def ask() -> dict[str, Any] | None:
            try:
                found = self.client.head_object(Bucket=self.url.bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                    return None
                raise
            return {"etag": found["ETag"], "size": found["ContentLength"]}

        return self._call(f"look up {relative}", ask)

    def get(self, relative: str, *, unless_etag: str | None = None, start: int = 0
            ) -> tuple[bytes, str] | None:
        """The object's bytes (from byte ``start`` on) and ETag; None when there is none;
        (b"", ``unless_etag``) when its ETag is still that one (nothing to fetch: see
        ``UNCHANGED``). ShortObject when it holds no more than ``start`` bytes."""
        from botocore.exceptions import ClientError

        key = self.url.key(relative)

        def fetch() -> tuple[bytes, str] | None:
            extra = {"IfNoneMatch": unless_etag} if unless_etag else {}
            if start:
                extra["Range"] = f"bytes={start}-"
            try:
                found = self.client.get_object(Bucket=self.url.bucket, Key=key, **extra)
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                code = exc.response.get("Error", {}).get("Code")
                if status == 304 or code == "304":
                    return UNCHANGED, str(unless_etag)
                if status == 404 or code == "NoSuchKey":
                    return None
                if status == 416 or code == "InvalidRange":
                    raise ShortObject(relative) from exc
                raise
            data = found["Body"].read()
            self.received += len(data)
            self.reads += 1
            return data, found["ETag"]

        return self._call(f"read {relative}", fetch)

    def download(self, relative: str, target: Path) -> str:
        """The object into ``target`` (through a temporary file beside it); its ETag. The
        bytes are checked against an ETag that is an MD5 (any single-part upload's)."""
        key = self.url.key(relative)
        tmp = target.with_name(f".{target.name}.part")

        def fetch() -> str:
            found = self.client.get_object(Bucket=self.url.bucket, Key=key)
            digest = hashlib.md5(usedforsecurity=False)
            size = 0
            with open(tmp, "wb") as out:
                for chunk in found["Body"].iter_chunks(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            etag = str(found["ETag"])
            if "-" not in etag and etag.strip('"') != digest.hexdigest():
                raise StoreError(f"{relative}: the bytes read do not match the store's "
                                 "MD5 of them", where=str(self.url))
            self.received += size
            self.reads += 1
            return etag

        target.parent.mkdir(parents=True, exist_ok=True)
        etag = self._call(f"read {relative}", fetch)
        os.replace(tmp, target)
        return etag

    def put(self, relative: str, data: bytes, *, if_etag: str | None = None,
            if_absent: bool = False) -> str:
        """Write the object; its ETag. ``if_etag``: only over that version; ``if_absent``:
        only where there is none. A retry of a write that did land is taken as landed."""
        key = self.url.key(relative)
        mine = md5_etag(data)
        conditions: dict[str, str] = {}
        if if_etag is not None:
            conditions["IfMatch"] = if_etag
        elif if_absent:
            conditions["IfNoneMatch"] = "*"
        attempts = [0]

        def send() -> str:
            attempts[0] += 1
            self.sent += len(data)
            try:
                put = self.client.put_object(Bucket=self.url.bucket, Key=key, Body=data,
                                             ContentMD5=_content_md5(data), **conditions)
            except Exception:
                if attempts[0] > 1 and conditions:
                    landed = self.head(relative)
                    if landed is not None and landed["etag"] == mine:
                        return mine  # the first try's write arrived; the answer did not
                raise
            return str(put["ETag"])

        return self._call(f"write {relative}", send)

    def upload(self, path: Path, relative: str) -> str:
        """A file, whole (single-part, so its ETag is its MD5 and a reader can check it)."""
        return self.put(relative, path.read_bytes())

    def delete(self, relative: str) -> None:
        self._call(f"delete {relative}", lambda: self.client.delete_object(
            Bucket=self.url.bucket, Key=self.url.key(relative)))

    def list(self, under: str = "") -> Iterator[tuple[str, str, int]]:
        """(relative path, ETag, size) of every object under the prefix (and ``under``)."""
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}

            def ask(extra: dict[str, str] = extra) -> Any:
                return self.client.list_objects_v2(Bucket=self.url.bucket,
                                                   Prefix=self.url.key(under), **extra)

            page = self._call("list the store", ask)
            for item in page.get("Contents", []):
                yield item["Key"][len(self.url.prefix):], item["ETag"], item["Size"]
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]


def _content_md5(data: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
