"""Capture ids: made from the capture's start time, and checked wherever one is given.

An id names the capture's files (``manifests/<id>.json``, ``archive/YYYY/MM/<id>-N.warc.gz``),
so an id given on the command line must name nothing else: no folder, no '..'.
"""

from __future__ import annotations

import os
import re
from datetime import datetime

from .errors import UsageError

_CAPTURE_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,127}")


def new_capture_id(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ") + "-" + os.urandom(4).hex()  # (as secrets.token_hex)


def is_capture_id(capture_id: str) -> bool:
    return bool(_CAPTURE_ID.fullmatch(capture_id)) and ".." not in capture_id


def check_capture_id(capture_id: str) -> str:
    """The id, or UsageError: a capture id names a file in manifests/, and nothing else
    (no folder, no '..'), so that no command reads a manifest from outside the archive."""
    if not is_capture_id(capture_id):
        raise UsageError("not a capture id (like 20261121T101500Z-1a2b3c4d)",
                         where=repr(capture_id))
    return capture_id
