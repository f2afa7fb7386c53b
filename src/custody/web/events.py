"""The workbench's own events in the custody log -- verified, downloaded, exported,
capture asked for, accounts changed -- each naming the account that acted.

Signed with the archivist's key the server was started with (``who`` is the principal
allowed_signers gives it, as for every event; ``details.account`` the workbench account).
Appended under the archive's sealing lock only, not the writer's lock: a capture holds
the writer's lock for its whole crawl (in a process of its own), and a download made
meanwhile must still be logged when it happens. The sealing lock is the one every seal
and every event is written under, and the archive's kept history (seal/history.py)
folds in what another process appended, so the log stays one chain. Appends from this
process's threads take a lock of their own first: the sealing lock is re-entrant per
process, not per thread.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from ..core.archive import Archive
from ..core.errors import CustodyError

log = logging.getLogger("custody.serve")


@dataclass
class Recorder:
    archive: Archive
    key: Any | None  # Ed25519PrivateKey, or None: a read-only workbench (no key at hand)
    principal: str | None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def can_sign(self) -> bool:
        return self.key is not None and self.principal is not None

    def record(self, event: str, account: str, details: dict[str, Any]) -> dict[str, Any]:
        """Append the event; CustodyError when it cannot be (no key: the workbench then
        refuses the action itself, so nothing happens unlogged)."""
        if self.key is None or self.principal is None:
            raise CustodyError("this workbench has no archivist's key to sign the custody "
                               "log with (start custody serve where the key is)")
        from ..seal.custody_log import CustodyLog

        with self._lock, self.archive.sealing():
            entry = CustodyLog(self.archive.manifests_dir).append(
                event, key=self.key, who=self.principal,
                details={**details, "account": account})
        log.info("logged %s by %s", event, account)
        return entry
