"""What a worker checks before it uses any of a job, and what it takes from its own
configuration instead.

In order, each a reason to refuse the job (custody.core.errors.JobRefused):

1. the envelope's signature over its exact bytes, in the ``custody-job`` namespace
   (custody.queue.envelope);
2. the signer, judged by the archive the worker seals into, as verify judges a
   manifest's: a line of allowed_signers holds the key, lets it sign ``custody-job``, and
   is valid both when the job was signed and now; and the custody log admits the key
   (custody.seal.trust);
3. the job's URLs (what `custody archive` takes, of one host) and every setting, by the
   command line's own rules (custody.capture.validation);
4. what only the worker's configuration may give: settings naming files (``cookies``,
   ``ca_bundle``, ``browser_profile``) are the worker's own (``custody worker
   --cookies ...``) and a job that carries one is refused; ``allow_private`` is taken
   only from a job to a worker started with ``--allow-private``.

A key's admission is read from the custody log once and kept while allowed_signers is
unchanged: the log only grows, and nothing in it takes an admission back (a rotated key
loses its validity in allowed_signers, which is read for every job).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..capture.settings import Settings
from ..capture.validation import LOCAL_PATHS, check_settings
from ..core import allowed_signers, sshsig
from ..core.archive import Archive
from ..core.errors import InvalidURL, JobRefused, UsageError
from ..seal.trust import admission_of
from . import envelope

SKEW = timedelta(minutes=5)  # how far a job's signed time may run ahead of this clock


@dataclass(frozen=True)
class Permits:
    """A worker's own configuration: what it lets jobs ask, and the files it reads."""

    allow_private: bool = False
    cookies: str | None = None
    ca_bundle: str | None = None
    browser_profile: str | None = None


@dataclass(frozen=True)
class Accepted:
    """A job that passed: its URLs, the settings it will be captured with, its signer."""

    id: str
    host: str
    urls: list[str]
    settings: Settings
    principal: str
    fingerprint: str
    queued_at: datetime


def host_of(url: str) -> str:
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "").lower()


class Gatekeeper:
    """Checks jobs for one worker: the archive it seals into, its permits, and (for a
    working copy of a stored archive) ``refresh``, which brings allowed_signers and the
    custody log up to date before a key found wanting is refused."""

    def __init__(self, archive: Archive, permits: Permits,
                 refresh: Callable[[], None] | None = None) -> None:
        self.archive = archive
        self.permits = permits
        self.refresh = refresh
        self._admitted: tuple[bytes, set[str]] = (b"", set())

    def accept(self, job_id: str, fields: dict[str, Any]) -> Accepted:
        if not envelope.is_job_id(job_id):
            raise JobRefused(f"{str(job_id)[:40]!r} is not a job id custody makes")
        sealed, signature = envelope.opened(job_id, fields.get("envelope"),
                                            fields.get("signature"))
        try:
            principal = self.signer(signature.public_key, sealed.queued_at)
        except JobRefused:
            if self.refresh is None:
                raise
            self.refresh()  # the store may hold a key admitted since this copy was made
            principal = self.signer(signature.public_key, sealed.queued_at)
        host = self._check_urls(sealed.urls)
        try:
            settings = check_settings(sealed.settings)
        except UsageError as exc:
            raise JobRefused(f"invalid settings: {exc}") from None
        if settings.interactive:
            raise JobRefused("an interactive capture is made by a person at a display; no "
                             "worker makes one")
        return Accepted(job_id, host, sealed.urls, self._local(settings), principal,
                        sshsig.fingerprint(signature.public_key), sealed.queued_at)

    def signer(self, public: Any, signed_at: datetime) -> str:
        """The principal ``public`` signs jobs as in this archive; JobRefused when it may
        not."""
        now = datetime.now(UTC)
        fp = sshsig.fingerprint(public)
        if signed_at > now + SKEW:
            raise JobRefused(f"signed by {fp} at {signed_at:%Y-%m-%dT%H:%M:%SZ}, which is "
                             "still to come by this worker's clock")
        path = self.archive.allowed_signers
        try:
            text = path.read_bytes()
            signers = allowed_signers.read_allowed_signers(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise JobRefused(f"this worker cannot read the archive's allowed_signers "
                             f"({exc})") from None
        blob = sshsig.public_key_blob(public)
        lines = [s for s in signers if sshsig.public_key_blob(s.public_key) == blob]
        if not lines:
            raise JobRefused(f"signed by {fp}, a key not in the archive's allowed_signers")
        lines = [s for s in lines if s.allows_namespace(envelope.NAMESPACE)]
        if not lines:
            raise JobRefused(f"{fp} may not queue jobs: its namespaces in allowed_signers "
                             f"leave out {envelope.NAMESPACE} (add it there, or admit a key "
                             "that has it)")
        lines = [s for s in lines if allowed_signers.valid_at(s, signed_at)
                 and allowed_signers.valid_at(s, now)]
        if not lines:
            raise JobRefused(f"signed by {fp} outside its validity in allowed_signers "
                             "(a key retired by `custody key rotate`?)")
        if not self._admits(text, signers, fp):
            admission = admission_of(self.archive.manifests_dir, signers)
            if not admission.admits(fp):
                raise JobRefused(f"signed by a key the archive does not admit: "
                                 f"{admission.why_not(fp)}")
        return lines[0].principals[0]

    def _admits(self, text: bytes, signers: list[allowed_signers.AllowedSigner],
                fp: str) -> bool:
        """Whether ``fp`` is admitted, read from the custody log only when this set of
        allowed_signers has not shown it admitted already."""
        digest = hashlib.sha256(text).digest()
        seen, admitted = self._admitted
        if seen == digest and fp in admitted:
            return True
        admission = admission_of(self.archive.manifests_dir, signers)
        self._admitted = (digest, set(admission.keys))
        return admission.admits(fp)

    @staticmethod
    def _check_urls(urls: list[str]) -> str:
        from ..core.urls import check_url

        for url in urls:
            try:
                normal = check_url(url)
            except InvalidURL as exc:
                raise JobRefused(f"a URL `custody archive` would refuse: {exc}") from None
            if normal != url:  # custody queues URLs as it normalises them
                raise JobRefused(f"a URL not in the form custody queues it: {url[:200]}")
        hosts = {host_of(url) for url in urls}
        if len(hosts) != 1:
            raise JobRefused(f"URLs of {len(hosts)} hosts; custody queues one host per job")
        return hosts.pop()

    def _local(self, settings: Settings) -> Settings:
        carried = [name for name in LOCAL_PATHS if getattr(settings, name) is not None]
        if carried:
            raise JobRefused(f"it names a file on the worker's machine ({carried[0]}); such "
                             "settings come from the worker's own configuration (custody "
                             f"worker --{carried[0].replace('_', '-')}), never from a job")
        if settings.allow_private and not self.permits.allow_private:
            raise JobRefused("it asks --allow-private, which this worker does not permit "
                             "(custody worker --allow-private)")
        settings.cookies = self.permits.cookies
        settings.ca_bundle = self.permits.ca_bundle
        settings.browser_profile = self.permits.browser_profile
        return settings


def check_queuer(archive: Archive, public: Any) -> str:
    """The principal ``public`` queues jobs as; KeyProblem, before anything is queued,
    when this archive's workers would refuse every job it signed."""
    from ..core.errors import KeyProblem

    try:
        return Gatekeeper(archive, Permits()).signer(public, datetime.now(UTC))
    except JobRefused as exc:
        raise KeyProblem(f"the workers would refuse every job this key signs: {exc}",
                         where=str(archive.root)) from None
