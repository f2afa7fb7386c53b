"""A job as the archivist who queued it signed it.

Whoever can write to the queue's Redis can put anything on its stream, so a worker uses
nothing it reads there but what an admitted archivist signed. ``custody archive --queue``
writes each job as canonical JSON (keys sorted, no spaces, UTF-8)::

    {"format":"custody-job/1","id":"<32 hex>","queued_at":"2026-12-05T10:00:00Z",
     "settings":{...every setting...},"urls":["https://...", ...]}

and signs those exact bytes with the archivist's key (a key file, ssh-agent or a
security key, as for manifests) as an SSH signature in its own namespace,
``custody-job``. The signed bytes name the job's id, so a job cannot be put on the queue
again under another id, and say when it was queued. ``ssh-keygen -Y verify -f
allowed_signers -I PRINCIPAL -n custody-job -s job.sig < job.json`` checks one.

``opened`` checks the signature over the bytes before it reads a field of them; who
signed, and whether that key may (custody.queue.acceptance), is the next step.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..capture.settings import MAX_URLS
from ..core import sshsig
from ..core.errors import JobRefused

FORMAT = "custody-job/1"
NAMESPACE = sshsig.JOB_NAMESPACE
MAX_BYTES = 4 << 20  # a job of 10,000 long URLs is well under it
_ID = re.compile(r"[0-9a-f]{32}")
_TIME = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Envelope:
    """A job's signed bytes, their signature, and what they say."""

    id: str
    queued_at: datetime
    urls: list[str]
    settings: dict[str, Any]
    data: bytes
    signature: str


def canonical(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")


def is_job_id(text: object) -> bool:
    """A job id custody makes (uuid4's 32 hex digits): a job's id names a file in the
    archive (``.custody/jobs/ID.json``), so one read from the queue must name nothing else."""
    return isinstance(text, str) and _ID.fullmatch(text) is not None


def signed(job_id: str, urls: list[str], settings: dict[str, Any], key: Any,
           now: datetime | None = None) -> Envelope:
    """The job, signed with ``key`` (an Ed25519 private key, or one held by ssh-agent)."""
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    data = canonical({"format": FORMAT, "id": job_id, "queued_at": moment.strftime(_TIME),
                      "settings": settings, "urls": urls})
    return Envelope(job_id, moment, list(urls), settings, data,
                    sshsig.sign(key, data, NAMESPACE))


def opened(job_id: str, data: object, signature: object) -> tuple[Envelope, sshsig.Signature]:
    """The envelope the queue holds for ``job_id``, its signature checked over its exact
    bytes and its fields read; JobRefused saying what is wrong. Who signed is not judged
    here."""
    if not isinstance(data, str) or not data:
        raise JobRefused("not a signed job: it holds no envelope (queued by a custody "
                         "older than job signatures, or not by custody at all)")
    if not isinstance(signature, str) or not signature:
        raise JobRefused("not a signed job: its envelope has no signature")
    try:
        raw = data.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        raise JobRefused("its envelope is not text custody wrote") from None
    if len(raw) > MAX_BYTES:
        raise JobRefused(f"an envelope of {len(raw)} bytes; a job holds at most {MAX_BYTES}")
    try:
        parsed = sshsig.parse_signature(signature)
    except (ValueError, UnicodeError) as exc:
        raise JobRefused(f"its signature is not a usable SSH signature ({exc})") from None
    if parsed.namespace != NAMESPACE:
        raise JobRefused(f"its signature is for {parsed.namespace!r}, not {NAMESPACE!r}: a "
                         "signature made for something else is never a job's")
    if not parsed.verifies(raw):
        raise JobRefused(f"its signature by {sshsig.fingerprint(parsed.public_key)} does not "
                         "match its bytes (altered after it was signed)")
    return _read(job_id, raw, signature), parsed


def _read(job_id: str, raw: bytes, signature: str) -> Envelope:
    try:
        content = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise JobRefused(f"its signed envelope is not JSON ({exc})") from None
    if not isinstance(content, dict):
        raise JobRefused("its signed envelope is not a JSON object")
    if canonical(content) != raw:  # one reading of the bytes: no duplicate keys, no spaces
        raise JobRefused("its signed envelope is not in canonical form")
    if set(content) != {"format", "id", "queued_at", "settings", "urls"}:
        raise JobRefused("its signed envelope does not hold exactly format, id, queued_at, "
                         "settings and urls")
    if content["format"] != FORMAT:
        raise JobRefused(f"an envelope of format {str(content['format'])[:40]!r}; this "
                         f"worker reads {FORMAT}")
    if content["id"] != job_id:
        raise JobRefused(f"signed for job {str(content['id'])[:40]!r}, not this one: a job "
                         "put on the queue again under another id")
    try:
        queued_at = datetime.strptime(str(content["queued_at"]), _TIME).replace(tzinfo=UTC)
    except ValueError:
        raise JobRefused("its signed time is not a time like 2026-12-05T10:00:00Z") from None
    urls = content["urls"]
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise JobRefused("its URLs are not a list of one URL or more")
    if len(urls) > MAX_URLS:
        raise JobRefused(f"{len(urls)} URLs; a job holds at most {MAX_URLS}")
    return Envelope(job_id, queued_at, urls, content["settings"], raw, signature)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")
