"""Telling people: one notification per target for the changes it has not had, through
Apprise (email, Matrix, Signal, Telegram, Slack, ntfy, ... any URL Apprise knows), and a
signed webhook (``hmac://`` and ``hmacs://`` targets, sent through Apprise as a plugin of
ours) whose receiver can check the body came from this archive.

The webhook: a POST of JSON (``custody-watch-notification/1``: the delivery's id and the
changes, each naming its two captures and their manifests' sha256), with headers
``X-Custody-Signature: sha256=<hex HMAC-SHA256 of the body's exact bytes, keyed by the
target's secret>`` and ``X-Custody-Delivery: <id>``. A target's secret is made when it
is added and kept in the scheduler's working state (readable by its owner alone).

Delivery. Each change is queued for each of its watch's targets in the same transaction
that ends its run; before a send its rows are marked ``sending`` (with the delivery's id),
after it ``sent``. A death between the two is the one moment that cannot be told apart
from a send that failed: the notification is sent again, with the same delivery id, so
that a webhook receiver can drop the repeat (an email may then arrive twice). A target
that fails is tried again on each later pass, up to ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ..core.archive import Archive
from ..core.errors import NotFound, UsageError
from .state import WatchState
from .watches import watch_reading

log = logging.getLogger("custody.watch")

SIGNED_SCHEMES = ("hmac", "hmacs")
SIGNATURE_HEADER = "X-Custody-Signature"
DELIVERY_HEADER = "X-Custody-Delivery"
MAX_ATTEMPTS = 10
TIMEOUT = 15.0
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# -- targets -------------------------------------------------------------------------------


def add_target(archive: Archive, name: str, url: str) -> str | None:
    """Keep a notification target; the secret of a signed webhook (None for others).
    UsageError for a name taken or a URL Apprise cannot use."""
    if not name or not set(name.lower()) <= _NAME_CHARS or len(name) > 64:
        raise UsageError("a target's name is letters, digits, '-', '_' and '.'", where=name)
    scheme = urlsplit(url).scheme.lower()
    secret = secrets.token_hex(32) if scheme in SIGNED_SCHEMES else None
    if not len(_apprise_for(url, secret)):
        raise UsageError("not a notification URL Apprise knows (see its list of services; "
                         "hmac://HOST/PATH for a signed webhook)", where=name)
    state = WatchState(archive)
    try:
        with state.step() as conn:
            if conn.execute("SELECT 1 FROM targets WHERE name = ?", [name]).fetchone():
                raise UsageError("a target of this name exists", where=name)
            conn.execute("INSERT INTO targets (name, url, secret, added_at) VALUES "
                         "(?, ?, ?, ?)", [name, url, secret, time.time()])
    finally:
        state.close()
    return secret


def remove_target(archive: Archive, name: str) -> None:
    state = WatchState(archive)
    try:
        with state.step() as conn:
            if not conn.execute("DELETE FROM targets WHERE name = ?", [name]).rowcount:
                raise NotFound("no such notification target", where=name)
            conn.execute("DELETE FROM deliveries WHERE target = ? AND state != 'sent'",
                         [name])
    finally:
        state.close()


def list_targets(archive: Archive) -> list[dict[str, Any]]:
    """Each target's name, scheme and whether it signs (never its URL's secrets)."""
    state = WatchState(archive)
    try:
        found = state.targets()
    finally:
        state.close()
    return [{"name": name, "scheme": urlsplit(url).scheme, "signed": secret is not None}
            for name, (url, secret) in found.items()]


# -- sending -------------------------------------------------------------------------------


def deliver(archive: Archive, state: WatchState) -> list[dict[str, Any]]:
    """Send each target the changes it has not had, one notification each; what was
    sent (target, delivery id, change numbers, whether it went)."""
    waiting = state.undelivered()
    if not waiting:
        return []
    targets = state.targets()
    sent = []
    for target, seqs in waiting.items():
        if target not in targets:
            continue
        url, secret = targets[target]
        attempts = state.conn.execute(
            f"SELECT max(attempts) FROM deliveries WHERE target = ? AND change_seq IN "
            f"({', '.join('?' * len(seqs))})", [target, *seqs]).fetchone()[0] or 0
        if attempts >= MAX_ATTEMPTS:
            continue
        changes = _changes(archive, seqs)
        delivery = hashlib.sha256(f"{target}:{','.join(map(str, seqs))}".encode()).hexdigest()
        with state.step() as conn:
            conn.executemany("UPDATE deliveries SET state = 'sending', attempts = attempts + 1,"
                             " delivery_id = ? WHERE change_seq = ? AND target = ?",
                             [(delivery[:32], seq, target) for seq in seqs])
        from ..core import faults

        faults.after("watch.sending")
        ok, error = _send(url, secret, delivery[:32], changes, archive)
        with state.step("watch.delivered") as conn:
            conn.executemany("UPDATE deliveries SET state = ?, sent_at = ?, error = ? WHERE "
                             "change_seq = ? AND target = ?",
                             [("sent" if ok else "pending", time.time() if ok else None,
                               error, seq, target) for seq in seqs])
        log.info("watch: %s %d change(s) to %s", "sent" if ok else "could not send",
                 len(seqs), target)
        sent.append({"target": target, "delivery": delivery[:32], "changes": seqs, "sent": ok,
                     "error": error})
    return sent


def _changes(archive: Archive, seqs: list[int]) -> list[dict[str, Any]]:
    with watch_reading(archive) as conn:
        rows = conn.execute(
            "SELECT seq, at, watch_id, url, kinds, before_capture, before_manifest_sha256, "
            "after_capture, after_manifest_sha256, counts, diff_sha256, diff, reason FROM "
            f"watch_changes WHERE seq IN ({', '.join('?' * len(seqs))}) ORDER BY seq",
            seqs).fetchall()
    return [{"seq": r[0], "at": r[1], "watch_id": r[2], "url": r[3], "kinds": json.loads(r[4]),
             "before": {"capture_id": r[5], "manifest_sha256": r[6]},
             "after": {"capture_id": r[7], "manifest_sha256": r[8]},
             "counts": json.loads(r[9]), "diff_sha256": r[10], "diff": r[11], "reason": r[12]}
            for r in rows]


def _send(url: str, secret: str | None, delivery: str, changes: list[dict[str, Any]],
          archive: Archive) -> tuple[bool, str | None]:
    count = len(changes)
    title = f"custody: {count} change{'' if count == 1 else 's'} on watched pages"
    if secret is not None:
        body = json.dumps({"format": "custody-watch-notification/1", "delivery": delivery,
                           "archive": archive.root.name,
                           "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
                           "changes": changes}, ensure_ascii=False, sort_keys=True)
    else:
        body = "\n\n".join(_as_text(c) for c in changes)
    notifier = _apprise_for(url, secret, delivery)
    try:
        ok = bool(notifier.notify(title=title, body=body))
    except Exception as exc:  # Apprise's services raise what their libraries raise
        return False, f"{type(exc).__name__}: {exc}"
    return ok, None if ok else "the service did not take it (see the log)"


def _as_text(change: dict[str, Any]) -> str:
    lines = [f"{change['url']}: {', '.join(change['kinds'])}"
             + (f" - {change['reason']}" if change.get("reason") else ""),
             f"before: {change['before']['capture_id']} (manifest sha256 "
             f"{change['before']['manifest_sha256']})",
             f"after:  {change['after']['capture_id']} (manifest sha256 "
             f"{change['after']['manifest_sha256']})",
             f"diff sha256 {change['diff_sha256']}, event {change['seq']} of the custody log"]
    return "\n".join(lines + change["diff"].splitlines()[:20])


def _apprise_for(url: str, secret: str | None, delivery: str = "") -> Any:
    import apprise

    _register()
    notifier = apprise.Apprise()
    if secret is not None:
        _PENDING[url] = (secret, delivery)
    notifier.add(url)
    return notifier


_PENDING: dict[str, tuple[str, str]] = {}  # a signed target's URL -> its secret, delivery
_registered = False


def _register() -> None:
    """Apprise's plugins for the signed webhook: hmac:// (http) and hmacs:// (https)."""
    global _registered
    if _registered:
        return
    from apprise.decorators import notify

    for scheme in SIGNED_SCHEMES:
        notify(on=scheme, name="custody signed webhook")(_post)
    _registered = True


def _post(body: str, title: str, notify_type: str, meta: dict[str, Any], *args: Any,
          **kwargs: Any) -> bool:
    import httpx

    url = str(meta.get("url", ""))
    secret, delivery = next(((s, d) for u, (s, d) in _PENDING.items()
                             if _same_target(u, url)), ("", ""))
    if not secret:
        log.error("watch: no secret for the signed webhook %s", meta.get("host"))
        return False
    scheme = "https" if meta.get("schema") == "hmacs" else "http"
    port = f":{meta['port']}" if meta.get("port") else ""
    target = f"{scheme}://{meta.get('host')}{port}{meta.get('fullpath') or '/'}"
    data = body.encode()
    try:
        answer = httpx.post(target, content=data, timeout=TIMEOUT, headers={
            "Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, data),
            DELIVERY_HEADER: delivery})
    except httpx.HTTPError as exc:
        log.warning("watch: webhook %s: %s", target, exc)
        return False
    return answer.is_success


def _same_target(kept: str, given: str) -> bool:
    a, b = urlsplit(kept), urlsplit(given)
    return (a.scheme.lower(), a.hostname, a.port, a.path.rstrip("/")) == \
        (b.scheme.lower(), b.hostname, b.port, b.path.rstrip("/"))
