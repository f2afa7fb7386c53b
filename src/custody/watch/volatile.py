"""What changes on every visit and says nothing: the default rules that keep a quiet page
quiet, and the per-watch CSS selectors that add to them.

Two kinds of rule. Parts of the page dropped before its text is read: scripts, styles,
forms' hidden fields, frames, and elements whose class, id or role mark them as ads or
sponsored content (``AD_SELECTORS``), with any the watch names. And spans of text masked
in each sentence before sentences are compared: clock times, dates within a day of the
capture (a rotating "updated at"; an older date is content, and compared), relative
times ("3 minutes ago"), Unix timestamps of that day, counters ("1,204 views"), and
tokens (long runs of letters and digits, as CSRF tokens and nonces are). A sentence
whose only difference is a masked span is the same sentence; the diff shows the
sentences as they were written.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

DROPPED_TAGS = ("script", "style", "noscript", "template", "iframe", "object", "embed",
                "head", "input", "select", "textarea", "button", "svg", "canvas")

AD_SELECTORS = (
    "[class~=ad]", "[class~=ads]", "[id=ad]", "[id=ads]", "[class*=advert]",
    "[id*=advert]", "[class*=sponsor]", "[id*=sponsor]", "[class*=adsbygoogle]",
    "[class^=ad-]", "[class*=' ad-']", "[class^=ad_]", "[id^=ad-]", "[id^=ad_]",
    "[class*=-ad-]", "[class$=-ad]", "[class*=banner-ad]", "[class*=ad-slot]",
    "[class*=adslot]", "[data-ad]", "[data-ad-slot]", "[data-ad-client]",
    "[aria-label=Advertisement]", "[aria-label=advertisement]", "[role=banner] [class*=ad]",
    "[class*=promoted]", "[class*=outbrain]", "[class*=taboola]", "[rel~=sponsored]",
    "[class*=promo]", "[id*=promo]",
    # widgets that change by themselves: clocks, tickers, visitor counters, "trending"
    "[class~=clock]", "[id~=clock]", "[class*=ticker]", "[class*=visitor-count]",
    "[class~=counter]", "[id~=counter]", "[class*=view-count]", "[class*=hit-counter]",
    "[class*=trending]", "[id*=trending]", "[class*=weather]",
    # lists of other pages, often shuffled on every visit
    "[class*=related]", "[id*=related]", "[class*=recommend]", "[id*=recommend]",
)
# a box whose first words are a label saying it is an ad, this short at most
AD_LABEL = re.compile(r"(?i)^(advertisement|advertising|sponsored( content| post)?|anzeige|"
                      r"publicit[ée]|publicidad|реклама|ads?|promoted)(\s*[:|\-–—]|$)")
AD_BOX_CHARS = 600
# media whose address says it is an ad (a rotating banner's URL changes on every visit)
AD_MEDIA = re.compile(r"(?i)(/ads?/|/adverts?/|/[^/?]*banner|doubleclick|adserver|adsystem|"
                      r"/sponsor|googlesyndication|[?&](ad|adid|banner)=)")
# query parameters that bust caches rather than name a different file
CACHE_BUSTERS = frozenset({"t", "ts", "v", "ver", "cb", "cache", "rand", "r", "nonce", "_",
                           "timestamp", "time"})

_MONTHS = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|"
           r"aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_WEEKDAY = r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|sday|urday)?\.?,?"
_ZONE = r"(?:\s?(?:utc|gmt|z|[a-z]{2,4}t|[+-]\d{2}:?\d{2}))?"
_CLOCK = rf"\d{{1,2}}:\d{{2}}(?::\d{{2}}(?:[.,]\d+)?)?(?:\s?[ap]\.?m\.?)?{_ZONE}"
_ISO = rf"\d{{4}}-\d{{2}}-\d{{2}}(?:[t ]{_CLOCK})?"
_NUMERIC_DATE = r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
_DAY_MONTH = rf"\d{{1,2}}(?:st|nd|rd|th)?\s{_MONTHS},?\s\d{{4}}"
_MONTH_DAY = rf"{_MONTHS}\s\d{{1,2}}(?:st|nd|rd|th)?,?\s\d{{4}}"
_DATE = re.compile(rf"(?i)\b(?:{_WEEKDAY}\s)?(?:{_ISO}|{_DAY_MONTH}|{_MONTH_DAY}|"
                   rf"{_NUMERIC_DATE})(?:,?\s(?:at\s)?{_CLOCK})?")
_TIME = re.compile(rf"(?i)\b{_CLOCK}")
_RELATIVE = re.compile(r"(?i)\b(?:\d+|an?|one|few)\s(?:seconds?|secs?|minutes?|mins?|hours?|"
                       r"hrs?|days?|weeks?|months?|years?)\sago\b|\bjust now\b|"
                       r"\b(?:updated|posted|edited)\s(?:today|yesterday)\b")
_EPOCH = re.compile(r"\b1\d{9}(?:\d{3})?\b")
_COUNTER_WORDS = (r"views?|viewers?|page ?views|likes?|shares?|comments?|followers?|"
                  r"visitors?|visits?|reads?|retweets?|reposts?|replies|reactions?|"
                  r"subscribers?|watching|online|hits?|downloads?|upvotes?|clicks?|"
                  r"impressions?|plays?|listens?")
# a label before a number: only words no statement uses so ("Shares: 1,200,000" may be one)
_COUNTER_LABELS = (r"views?|page ?views|visitors?|visits?|likes?|followers?|subscribers?|"
                   r"comments?|online|watching|hits?|downloads?|retweets?|reposts?|"
                   r"reactions?|upvotes?")
_NUMBER = r"\d[\d,.\u202f\u00a0 ]*[km]?\+?"
# "1,204 views", "37 users online"; "Views: 1204", "Visitors today: 37", "Comments (12)"
_COUNTER = re.compile(rf"(?i)\b{_NUMBER}\s?(?:[a-z]+\s)?(?:{_COUNTER_WORDS})\b|"
                      rf"\b(?:{_COUNTER_LABELS})(?:\s[a-z]+){{0,2}}\s?[:=(#]\s?#?{_NUMBER}\)?")
_ELAPSED = re.compile(r"(?i)\b(?:in|took|generated in|rendered in|served in)\s\d+(?:\.\d+)?"
                      r"\s?(?:ms|milliseconds|s|sec|seconds)\b")
_TOKEN = re.compile(r"\b(?=[A-Za-z0-9_\-+/=]*\d)(?=[A-Za-z0-9_\-+/=]*[A-Za-z])"
                    r"[A-Za-z0-9_\-+/]{16,}={0,2}")
_HEX = re.compile(r"\b[0-9a-fA-F]{16,}\b")
_SPACE = re.compile(r"\s+")
_NUMERIC_PARTS = re.compile(r"\d+")


def token_like(value: str) -> bool:
    """A value that reads as a token, a signature or a nonce, not a name."""
    return bool(_TOKEN.fullmatch(value) or _HEX.fullmatch(value))


def _near(text: str, moment: datetime) -> bool:
    """Whether a date's text names a day within one of ``moment``'s (so a rotating "as
    of" date, not a date the page reports)."""
    days = {moment + timedelta(days=d) for d in (-1, 0, 1)}
    low = text.lower()
    numbers = [int(n) for n in _NUMERIC_PARTS.findall(text)]
    for day in days:
        month_names = (day.strftime("%B").lower(), day.strftime("%b").lower())
        has_year = day.year in numbers or day.year % 100 in numbers
        has_day = day.day in numbers
        has_month = day.month in numbers or any(m in low for m in month_names)
        if has_year and has_day and has_month:
            return True
    return False


def mask(sentence: str, captured_at: datetime | None = None) -> str:
    """The sentence with its volatile spans masked, white space folded, for comparing."""
    moment = captured_at or datetime.now(UTC)

    def date(match: re.Match[str]) -> str:
        found = match.group()
        if _TIME.search(found) or _near(found, moment):
            return "<date>"
        return found

    def epoch(match: re.Match[str]) -> str:
        value = int(match.group()[:10])
        return "<time>" if abs(value - moment.timestamp()) < 2 * 86400 else match.group()

    text = _DATE.sub(date, sentence)
    text = _TIME.sub("<time>", text)
    text = _RELATIVE.sub("<time>", text)
    text = _ELAPSED.sub("<time>", text)
    text = _EPOCH.sub(epoch, text)
    text = _COUNTER.sub("<counter>", text)
    text = _TOKEN.sub("<token>", text)
    text = _HEX.sub("<token>", text)
    return _SPACE.sub(" ", text).strip()
