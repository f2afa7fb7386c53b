"""What changed between two observations of a watched page: its kinds, counts, and a
diff whose sha256 the change's signed event carries.

The kinds (index/watching.py's CHANGE_KINDS): ``text`` (sentences added, removed or
edited, once the volatile spans are masked), ``gone`` (an answer that says the page went,
a redirect to a login, a page that says it is not available, no answer at all; and a
gone page gone another way), ``returned`` (there again after it was gone),
``redirected`` (it now ends at another address), ``media-removed`` (images, video,
audio the page showed and shows no more), ``tls`` (the server presents another
certificate), ``screenshot`` (a browser watch's screenshot: a share of its pixels past
watch/pixels.py's THRESHOLD differ, the regions named). A passing error (429, 5xx) is no
change: the
next run looks again, and is compared with the last page that answered.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..core.urls import normalise
from .observe import Observation
from .volatile import mask

DIFF_LINES = 40  # lines of the diff kept in the event (its sha256 covers all of it)
DIFF_CHARS = 4000


@dataclass
class Change:
    kinds: list[str]
    before: Observation
    after: Observation
    counts: dict[str, int] = field(default_factory=dict)
    reason: str | None = None
    diff: str = ""

    @property
    def diff_sha256(self) -> str:
        return hashlib.sha256(self.diff.encode()).hexdigest()

    def short_diff(self) -> str:
        lines = self.diff.splitlines()
        text = "\n".join(lines[:DIFF_LINES])[:DIFF_CHARS]
        if len(text) < len(self.diff):
            text += f"\n[... {len(lines)} lines in all; sha256 {self.diff_sha256}]"
        return text

    def details(self, watch_id: str, url: str) -> dict[str, Any]:
        """The ``watch-changed`` event's details."""
        details: dict[str, Any] = {
            "watch_id": watch_id, "url": url, "kinds": self.kinds,
            "before": {"capture_id": self.before.capture_id,
                       "manifest_sha256": self.before.manifest_sha256},
            "after": {"capture_id": self.after.capture_id,
                      "manifest_sha256": self.after.manifest_sha256},
            "capture_ids": [self.before.capture_id, self.after.capture_id],
            "counts": self.counts, "diff_sha256": self.diff_sha256,
            "diff": self.short_diff(), "rules": "custody-watch/1"}
        if self.reason:
            details["reason"] = self.reason
        return details


def state_of(seen: Observation) -> str | None:
    """``gone: why``, or None for a page that is there."""
    gone = seen.gone()
    if gone is not None:
        return gone
    if seen.unavailable():
        return "says it is not available"
    return None


def compare(before: Observation, after: Observation,
            text_before: Observation | None = None) -> Change | None:
    """The change from ``before`` (the previous capture) to ``after``; ``text_before``:
    the last capture that showed the page, when ``before`` did not. None: nothing
    changed, or ``after`` is only a passing error."""
    if after.transient():
        return None
    was, now = state_of(before), state_of(after)
    if now is not None:
        if was == now:
            return None
        header = _header(before, after)
        lines = [f"- {s}" for s in _status_lines(before)] + \
            [f"+ {s}" for s in _status_lines(after)]
        return Change(["gone"], before, after, {},
                      now if was is None else f"{now} (it {was} before)",
                      "\n".join(header + lines))
    if after.unfollowed:  # where it points is all this capture holds of it
        if before.unfollowed and normalise(before.final_url) == normalise(after.final_url):
            return None
        lines = [f"- {s}" for s in _status_lines(before)] + \
            [f"+ {s}" for s in _status_lines(after)]
        return Change(["redirected"], before, after, {},
                      f"now redirects to {after.final_url} (another site: not followed)",
                      "\n".join(_header(before, after) + lines))
    away = was if was is not None else (
        f"redirected to {before.final_url}" if before.unfollowed else None)
    base = text_before if away is not None and text_before is not None else before
    kinds: list[str] = []
    reason: str | None = None
    if away is not None:
        kinds.append("returned")
        reason = f"there again (it {away} in {before.capture_id})"
    elif normalise(after.final_url) != normalise(base.final_url):
        kinds.append("redirected")
        reason = f"now ends at {after.final_url} (was {base.final_url})"
    counts, body = _sentences(base, after)
    if any(counts.values()):
        kinds.append("text")
    if base.certificate and after.certificate and base.certificate != after.certificate:
        kinds.append("tls")
        reason = reason or (f"the server's certificate changed (sha256 {base.certificate[:16]}"
                            f" to {after.certificate[:16]})")
        body += [f"- certificate sha256 {base.certificate}: {base.certificate_about}",
                 f"+ certificate sha256 {after.certificate}: {after.certificate_about}"]
    # one file in place of another, on every visit, is a rotation (a banner, a "photo of
    # the day"), not a removal: removed is what the page shows fewer of
    removed = sorted(set(base.media) - set(after.media))
    added = sorted(set(after.media) - set(base.media))
    if len(removed) > len(added):
        kinds.append("media-removed")
        counts["media_removed"] = len(removed) - len(added)
        body += [f"- media {base.media[k]}" for k in removed]
        body += [f"+ media {after.media[k]}" for k in added]
    if not kinds:
        return None
    return Change(kinds, base, after, counts, reason,
                  "\n".join(_header(base, after) + body))


def _header(before: Observation, after: Observation) -> list[str]:
    return [f"--- {before.url} in {before.capture_id} ({before.started_at})",
            f"+++ {after.url} in {after.capture_id} ({after.started_at})"]


def _status_lines(seen: Observation) -> list[str]:
    if seen.status is None:
        return [f"no answer: {seen.failure_reason or seen.failure}"]
    if seen.unfollowed:
        return [f"HTTP {seen.status}: a redirect to {seen.final_url}"]
    lines = [f"HTTP {seen.status} at {seen.final_url}"]
    if seen.title:
        lines.append(f"title: {seen.title}")
    return lines + seen.sentences[:5]


def _sentences(before: Observation, after: Observation) -> tuple[dict[str, int], list[str]]:
    """Counts of sentences added, removed and edited, and the diff's lines."""
    old = [mask(s, before.moment) for s in before.sentences]
    new = [mask(s, after.moment) for s in after.sentences]
    counts = {"added": 0, "removed": 0, "edited": 0}
    lines: list[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        lines.append(f"@@ sentences -{i1 + 1},{i2 - i1} +{j1 + 1},{j2 - j1} @@")
        if tag == "replace":
            paired = min(i2 - i1, j2 - j1)
            counts["edited"] += paired
            counts["removed"] += (i2 - i1) - paired
            counts["added"] += (j2 - j1) - paired
        elif tag == "delete":
            counts["removed"] += i2 - i1
        else:
            counts["added"] += j2 - j1
        lines += [f"- {s}" for s in before.sentences[i1:i2]]
        lines += [f"+ {s}" for s in after.sentences[j1:j2]]
    return counts, lines


def with_screenshots(root: Any, change: Change | None, before: Observation,
                     after: Observation, permille: int | None = None) -> Change | None:
    """A browser watch's change, with its screenshots compared (watch/pixels.py): a
    ``screenshot`` change when the share of pixels that differ reaches the threshold
    (the watch's own, ``permille`` thousandths, or pixels.THRESHOLD), and the figure and
    regions in the diff beside any other change. Nothing when either capture does not
    show the page (gone, a passing error) or has no screenshot."""
    from .pixels import THRESHOLD, difference, screenshot, volatile_boxes

    threshold = THRESHOLD if permille is None else permille / 1000
    base = change.before if change is not None else before
    if state_of(after) is not None or after.transient() or after.unfollowed or \
            state_of(base) is not None or base.unfollowed:
        return change
    shots = [screenshot(root, seen.capture_id, seen.final_url) for seen in (base, after)]
    if shots[0] is None or shots[1] is None:
        return change
    leave_out = [box for seen in (base, after)
                 for box in volatile_boxes(root, seen.capture_id, seen.final_url)]
    try:
        found = difference(shots[0], shots[1], leave_out)
    except ValueError:
        return change
    if change is None and found.share < threshold:
        return None
    if change is None:
        change = Change([], base, after, {}, None, "\n".join(_header(base, after)))
    if found.share >= threshold:
        change.kinds.append("screenshot")
        change.reason = change.reason or f"{found.share:.0%} of the screenshot's pixels differ"
    change.counts["screenshot_permille"] = round(found.share * 1000)
    change.diff += f"\n{found.line()} (a change from {threshold:.1%})"
    return change
