"""Selectors in a page's text: the identifiers an investigator pivots on (as Hunchly
extracts them) -- email addresses, phone numbers, @handles, profile URLs of the major
platforms, Bitcoin and Ethereum addresses.

Each is held to what makes it one, so that a selector is something a person wrote down,
not noise: an email's domain has a top-level label of letters; a phone number is written
in international form (``+`` or ``00``), has a country code the ITU assigned and 7 to 15
digits in all (E.164's bound), and may be written in Persian or Arabic-Indic digits; a
handle stands alone (not inside an email address); a profile URL names a user, not one
of the platform's own pages; a crypto address passes its checksum (addresses.py).

Each selector has a canonical value (what groups its sightings: a lower-cased email, a
phone number as ``+`` and ASCII digits, a profile as ``https://x.com/name``) and the text
as written at its first sighting. A page gives at most MAX_PER_TEXT distinct selectors:
a hostile page cannot fill the database.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from .addresses import btc_base58, btc_bech32, eip55, eth_checksum

KINDS = ("email", "phone", "handle", "profile", "btc", "eth")
MAX_PER_TEXT = 10_000


@dataclass(frozen=True)
class Found:
    kind: str
    value: str  # canonical
    shown: str  # as written, at its first sighting
    start: int  # where, in characters, it was first seen
    count: int  # how many times the text holds it


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = rf"(?:{_LABEL}\.)+(?:[A-Za-z]{{2,24}}|xn--[A-Za-z0-9-]{{1,59}})"
# around each "@": an email's local part before it (read backwards, at most 64 characters)
# and domain after it, or a handle after it (of another server too: @name@host.social)
_LOCAL = re.compile(r"[A-Za-z0-9._%+-]{1,64}\Z")
_EMAIL_DOMAIN = re.compile(rf"{_DOMAIN}(?![\w-]|\.[A-Za-z0-9])")
_FEDIVERSE = re.compile(rf"([A-Za-z0-9_]{{1,30}})@({_DOMAIN})(?![\w-])")
_HANDLE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,30}[A-Za-z0-9_])?(?![\w@]|\.[A-Za-z0-9])")
_LOCAL_CHARS = frozenset("_.%+-")
# Each expression begins with what its match begins with, and looks behind from there
# (``(?<![...].)``: the character before the match): re then leaps to where that first
# character is, where a look-behind first is tried at every place of the text, three
# times slower. A phone number begins with + or 00, in any digits
_PHONE = re.compile(r"(?:\+(?<![\w+].)|(?:00|\u06f0\u06f0|\u0660\u0660)(?<![\w+]..))"
                    r"[ \u00a0]?\(?\d(?:[ \u00a0.\-()/]{0,2}\d){5,18}(?![\w])")
_BTC_BASE58 = re.compile(r"[13](?<![A-Za-z0-9].)[1-9A-HJ-NP-Za-km-z]{25,34}(?![A-Za-z0-9])")
_BTC_BECH32 = re.compile(r"(?<![A-Za-z0-9])(?:bc1[02-9ac-hj-np-z]{8,87}|BC1[02-9AC-HJ-NP-Z]{8,87})"
                         r"(?![A-Za-z0-9])")
_ETH = re.compile(r"(?<![A-Za-z0-9])0x[0-9a-fA-F]{40}(?![0-9a-zA-Z])")
# a profile URL is found from its host's ".com/" (or .me, .ru...), which is quick to look
# for: the host before it, and the path after it, are read only there
_AFTER_HOST = re.compile(r"\.(?:com|me|ru|net|app|tv)/")
_HOST_END = re.compile(r"(?:www\.|m\.|mobile\.|web\.)?(twitter|x|facebook|fb|instagram|tiktok|"
                       r"youtube|t|telegram|linkedin|github|reddit|vk|ok|threads|bsky|twitch)\Z")
_PATH = re.compile(r"[^\s\"'<>()\[\]{}]{1,200}")

# ITU-T E.164 country codes in use (a code is a prefix of no other, so at most one fits)
_CODES = (
    "1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 "
    "61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98 211 212 213 216 218 220 221 222 "
    "223 224 225 226 227 228 229 230 231 232 233 234 235 236 237 238 239 240 241 242 243 "
    "244 245 246 247 248 249 250 251 252 253 254 255 256 257 258 260 261 262 263 264 265 "
    "266 267 268 269 290 291 297 298 299 350 351 352 353 354 355 356 357 358 359 370 371 "
    "372 373 374 375 376 377 378 379 380 381 382 383 385 386 387 389 420 421 423 500 501 "
    "502 503 504 505 506 507 508 509 590 591 592 593 594 595 596 597 598 599 670 672 673 "
    "674 675 676 677 678 679 680 681 682 683 685 686 687 688 689 690 691 692 800 808 850 "
    "852 853 855 856 870 880 881 882 883 886 888 960 961 962 963 964 965 966 967 968 970 "
    "971 972 973 974 975 976 977 979 992 993 994 995 996 998")
_COUNTRY_CODES = frozenset(_CODES.split())

# what each platform's first path segment may be when it names a user, and its own pages
_USER = {
    "x": (r"[A-Za-z0-9_]{1,15}", {
        "home", "search", "explore", "i", "intent", "share", "hashtag", "settings", "login",
        "signup", "messages", "notifications", "tos", "privacy", "about", "compose",
        "logout", "account", "download", "jobs", "en", "help", "status", "statuses"}),
    "facebook": (r"[A-Za-z0-9.]{5,50}", {
        "sharer", "sharer.php", "share", "share.php", "groups", "events", "pages", "watch",
        "photo", "photo.php", "photos", "story.php", "login", "login.php", "help",
        "policies", "marketplace", "hashtag", "permalink.php", "profile.php", "people",
        "gaming", "notes", "dialog", "plugins", "privacy", "settings", "business",
        "reel", "reels", "stories", "home.php", "search", "friends", "messages", "l.php"}),
    "instagram": (r"[A-Za-z0-9._]{1,30}", {
        "p", "reel", "reels", "explore", "stories", "accounts", "direct", "tv", "about",
        "developer", "legal", "web", "challenge", "privacy", "tags", "locations"}),
    "telegram": (r"[A-Za-z][A-Za-z0-9_]{4,31}", {
        "joinchat", "addstickers", "addemoji", "share", "proxy", "socks", "login",
        "setlanguage", "addtheme", "iv", "contact", "boost", "invoice"}),
    "github": (r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?", {
        "features", "pricing", "login", "join", "about", "orgs", "topics", "marketplace",
        "explore", "settings", "sponsors", "search", "notifications", "security",
        "enterprise", "team", "customer-stories", "readme", "collections", "trending",
        "events", "site", "contact", "apps", "new", "organizations", "issues", "pulls",
        "codespaces", "logout", "signup", "mobile", "resources", "solutions", "premium-support"}),
    "vk": (r"[A-Za-z0-9_.]{2,32}", {
        "wall", "photo", "video", "feed", "search", "login", "away.php", "im", "friends",
        "groups", "music", "audio", "docs", "apps", "settings", "support", "about", "blog",
        "dev", "terms", "privacy", "share.php", "app", "market", "clips", "topic", "board",
        "album", "note", "doc", "story", "podcasts", "restore", "join", "jobs", "legal"}),
    "twitch": (r"[A-Za-z0-9_]{4,25}", {
        "directory", "videos", "settings", "downloads", "jobs", "p", "search", "subscriptions",
        "inventory", "wallet", "drops", "turbo", "prime", "store", "friends", "messages"}),
}
_HOSTS = {"twitter.com": "x", "x.com": "x", "facebook.com": "facebook", "fb.com": "facebook",
          "instagram.com": "instagram", "tiktok.com": "tiktok", "youtube.com": "youtube",
          "t.me": "telegram", "telegram.me": "telegram", "linkedin.com": "linkedin",
          "github.com": "github", "reddit.com": "reddit", "vk.com": "vk", "ok.ru": "ok",
          "threads.net": "threads", "bsky.app": "bluesky", "twitch.tv": "twitch"}
_CANONICAL = {"x": "x.com", "facebook": "facebook.com", "instagram": "instagram.com",
              "telegram": "t.me", "github": "github.com", "vk": "vk.com", "twitch": "twitch.tv"}


def find(text: str) -> list[Found]:
    """The selectors in the text, each once (its first sighting, and how often it is
    seen), in the order of their first sightings."""
    first: dict[tuple[str, str], tuple[str, int]] = {}
    counts: dict[tuple[str, str], int] = {}
    for kind, value, shown, start in _sightings(text):
        key = (kind, value)
        if key in counts:
            counts[key] += 1
        elif len(counts) < MAX_PER_TEXT:
            first[key] = (shown, start)
            counts[key] = 1
    out = [Found(kind, value, *first[kind, value], counts[kind, value])
           for kind, value in counts]
    return sorted(out, key=lambda f: (f.start, f.kind))


def _sightings(text: str) -> Iterator[tuple[str, str, str, int]]:
    # each kind's expression runs only on a text holding what all its matches hold: most
    # pages have no selector, and then the whole search costs a few passes of `in`
    if "@" in text:
        yield from _at_signs(text)
    if "+" in text or "00" in text or "\u06f0\u06f0" in text or "\u0660\u0660" in text:
        for match in _PHONE.finditer(text):
            number = _phone(match.group(0))
            if number is not None:
                yield "phone", number, match.group(0), match.start()
    lowered = text.lower()
    if len(lowered) != len(text):  # a letter whose lower case is longer ('İ'): keep places
        lowered = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)
    yield from _profiles(text, lowered)
    for match in _BTC_BASE58.finditer(text):
        if btc_base58(match.group(0)):
            yield "btc", match.group(0), match.group(0), match.start()
    if "bc1" in lowered:
        for match in _BTC_BECH32.finditer(text):
            if btc_bech32(match.group(0)):
                yield "btc", match.group(0).lower(), match.group(0), match.start()
    if "0x" in lowered:
        for match in _ETH.finditer(text):
            if eth_checksum(match.group(0)) is not False:
                yield "eth", eip55(match.group(0)), match.group(0), match.start()


def _profiles(text: str, lowered: str) -> Iterator[tuple[str, str, str, int]]:
    for anchor in _AFTER_HOST.finditer(lowered):
        dot = anchor.start()
        window = max(0, dot - 12)
        named = _HOST_END.search(lowered, window, dot)
        if named is None:
            continue
        begin = named.start()
        if begin > 0 and (lowered[begin - 1].isalnum() or lowered[begin - 1] in "_.-"):
            continue
        host = named.group(1) + lowered[dot:anchor.end() - 1]
        path = _PATH.match(text, anchor.end())
        if host not in _HOSTS or path is None:
            continue
        written = path.group(0).rstrip(".,;:!?")  # a sentence's end is not the URL's
        end = path.start() + len(written)
        profile = _profile(host, written) if written else None
        if profile is not None:
            for scheme in ("https://", "http://"):
                if lowered.startswith(scheme, begin - len(scheme)) and begin >= len(scheme):
                    begin -= len(scheme)
                    break
            yield "profile", profile, text[begin:end], begin


def _at_signs(text: str) -> Iterator[tuple[str, str, str, int]]:
    at = text.find("@")
    while at >= 0:
        before = text[at - 1] if at else " "
        if before.isalnum() or before in _LOCAL_CHARS:
            found = _email(text, at)
        elif before not in "@/":  # a URL's path (tiktok.com/@name) is read as a profile
            found = _handle(text, at)
        else:
            found = None
        if found is not None:
            yield found
        at = text.find("@", at + 1)


def _email(text: str, at: int) -> tuple[str, str, str, int] | None:
    local = _LOCAL.search(text, max(0, at - 64), at)
    domain = _EMAIL_DOMAIN.match(text, at + 1)
    if local is None or domain is None or len(domain.group(0)) > 253:
        return None
    start = local.start()
    while start < at and not text[start].isalnum():
        start += 1
    name = text[start:at]
    previous = text[start - 1] if start else " "
    if not name or previous.isalnum() or previous in _LOCAL_CHARS or previous == "@" \
            or ".." in name or name.endswith("."):
        return None
    shown = text[start:domain.end()]
    return "email", shown.lower(), shown, start


def _handle(text: str, at: int) -> tuple[str, str, str, int] | None:
    other = _FEDIVERSE.match(text, at + 1)
    if other is not None:
        shown = text[at:other.end()]
        return "handle", shown.lower(), shown, at
    name = _HANDLE.match(text, at + 1)
    if name is None:
        return None
    handle = name.group(0)
    if handle.isdigit() or len(handle) < 2 or ".." in handle:
        return None
    return "handle", "@" + handle.lower(), "@" + handle, at


def _phone(written: str) -> str | None:
    """``+`` and the number's digits, when it is an international number: a country code
    in use, 7 to 15 digits in all (E.164), at least four after the country code."""
    digits = "".join(str(unicodedata.decimal(ch)) for ch in written if ch.isdecimal())
    if not written.startswith("+"):
        digits = digits[2:]  # the international prefix 00, in whatever digits
    if not 7 <= len(digits) <= 15 or digits[0] == "0":
        return None
    code = next((digits[:n] for n in (1, 2, 3) if digits[:n] in _COUNTRY_CODES), None)
    if code is None or len(digits) - len(code) < 4:
        return None
    if written.count("(") != written.count(")"):
        return None
    return "+" + digits


def _profile(host: str, path: str) -> str | None:
    """The profile's canonical URL, when the path names a user of the platform."""
    platform = _HOSTS[host]
    path = path.split("#", 1)[0]
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if not parts:
        return None
    first = parts[0]
    if platform == "facebook":
        if first.lower() == "profile.php":
            found = re.search(r"(?:^|&)id=(\d{5,20})(?:&|$)", path.split("?", 1)[-1])
            return f"https://facebook.com/profile.php?id={found.group(1)}" if found else None
        if first.lower() == "people" and len(parts) >= 3 and parts[2].isdigit():
            return f"https://facebook.com/people/{parts[1]}/{parts[2]}"
    if platform == "telegram" and first == "s" and len(parts) > 1:
        first = parts[1]  # t.me/s/NAME: the channel's public preview
    if platform in _USER:
        pattern, reserved = _USER[platform]
        if first.lower() in reserved or not re.fullmatch(pattern, first):
            return None
        return f"https://{_CANONICAL[platform]}/{first.lower()}"
    return _other_profile(platform, parts)


def _other_profile(platform: str, parts: list[str]) -> str | None:
    first = parts[0]
    rest = parts[1] if len(parts) > 1 else ""
    if platform in ("tiktok", "threads") and re.fullmatch(r"@[A-Za-z0-9._]{2,30}", first):
        host = "tiktok.com" if platform == "tiktok" else "threads.net"
        return f"https://{host}/{first.lower()}"
    if platform == "youtube":
        if re.fullmatch(r"@[A-Za-z0-9._-]{3,30}", first):
            return f"https://youtube.com/{first.lower()}"
        if first == "channel" and re.fullmatch(r"UC[A-Za-z0-9_-]{22}", rest):
            return f"https://youtube.com/channel/{rest}"
        if first in ("c", "user") and re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", rest):
            return f"https://youtube.com/{first}/{rest.lower()}"
        return None
    if platform == "linkedin" and first in ("in", "company") and \
            re.fullmatch(r"[\w-]{2,100}", rest):
        return f"https://linkedin.com/{first}/{rest.lower()}"
    if platform == "reddit" and first in ("u", "user") and \
            re.fullmatch(r"[A-Za-z0-9_-]{3,20}", rest):
        return f"https://reddit.com/user/{rest.lower()}"
    if platform == "ok" and first == "profile" and rest.isdigit():
        return f"https://ok.ru/profile/{rest}"
    if platform == "bluesky" and first == "profile" and \
            re.fullmatch(r"(?:did:plc:[a-z2-7]{24}|(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24})",
                         rest):
        return f"https://bsky.app/profile/{rest.lower()}"
    return None
