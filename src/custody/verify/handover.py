"""Nothing that fails a check goes out: a bundle, an export or a case's package is made
only of captures that a verification made now passes (a report is written all the same,
since it says where they fail, and its command ends with exit 1)."""

from __future__ import annotations

from ..core.archive import Archive
from ..core.errors import refuse_failed
from .report import FAILED


def require_verified(archive: Archive, capture_ids: list[str], consequence: str) -> None:
    """Verify the captures now; EvidenceFails naming those that fail."""
    from .run import verify

    report = verify(archive, capture_ids)
    if report.status == FAILED:
        failing = [c for c in capture_ids
                   if any(k.outcome == FAILED and k.capture_id == c for k in report.checks)]
        refuse_failed(FAILED, " ".join(failing or capture_ids), consequence)
