"""Selectors in text: each kind found where a person wrote one, and not where the text
only looks like one -- checksums held (BIP-13/173/350, EIP-55 with their published
vectors), country codes and E.164's bounds, a platform's own pages told from its users."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from custody.extract.addresses import btc_base58, btc_bech32, eip55, eth_checksum, keccak256
from custody.extract.selectors import MAX_PER_TEXT, find

SEEDS = Path(__file__).parent / "data" / "seeds"


def found(text: str) -> set[tuple[str, str]]:
    return {(f.kind, f.value) for f in find(text)}


def test_keccak_is_the_sha3_permutation_with_keccak_padding() -> None:
    assert keccak256(b"").hex() == \
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"abc").hex() == \
        "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    for size in (0, 1, 135, 136, 137, 272, 1000):
        data = os.urandom(size)
        assert keccak256(data, padding=0x06) == hashlib.sha3_256(data).digest(), size


@pytest.mark.parametrize("address", [  # EIP-55's own test vectors
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    "0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26",
])
def test_eip55_vectors(address: str) -> None:
    digits = address[2:]
    one_case = digits in (digits.lower(), digits.upper())
    assert eth_checksum(address) is (None if one_case else True)
    if not one_case:
        assert eip55(address.lower()) == address
        last = max(i for i, ch in enumerate(address) if ch.isalpha() and i > 1)
        flipped = address[:last] + address[last].swapcase() + address[last + 1:]
        assert eth_checksum(flipped) is False


@pytest.mark.parametrize("address, valid", [
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", True),  # the genesis block's
    ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", True),  # P2SH
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", False),  # one letter changed
    ("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", False),  # testnet: not a selector
])
def test_base58check(address: str, valid: bool) -> None:
    assert btc_base58(address) is valid


@pytest.mark.parametrize("address, valid", [
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", True),  # BIP-173
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", True),
    ("bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3", True),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", True),  # BIP-350
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", False),  # checksum
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", False),  # v0 with bech32m's constant
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut", False),  # v1, bech32
    ("bc1Qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", False),  # mixed case
    ("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", False),  # testnet
])
def test_bech32(address: str, valid: bool) -> None:
    assert btc_bech32(address) is valid


def test_each_kind_is_found_with_its_canonical_value() -> None:
    text = (
        "Write to Press@Example.org or a.b+x@mail.co.uk. Call +98 21 1234 5678, "
        "۰۰۹۸ ۹۱۲ ۱۲۳ ۴۵۶۷ or +1 (202) 555-0143. Follow @Activist_1, @someone@mastodon.social, "
        "https://twitter.com/SomeUser/status/1, m.facebook.com/some.person, "
        "facebook.com/profile.php?id=100012345678, instagram.com/real.user, t.me/s/channel_name, "
        "youtube.com/@Handle, linkedin.com/in/jane-doe, vk.com/durov, tiktok.com/@dancer. "
        "Give to 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa, bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4 "
        "or 0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed.")
    assert found(text) == {
        ("email", "press@example.org"), ("email", "a.b+x@mail.co.uk"),
        ("phone", "+982112345678"), ("phone", "+989121234567"), ("phone", "+12025550143"),
        ("handle", "@activist_1"), ("handle", "@someone@mastodon.social"),
        ("profile", "https://x.com/someuser"), ("profile", "https://facebook.com/some.person"),
        ("profile", "https://facebook.com/profile.php?id=100012345678"),
        ("profile", "https://instagram.com/real.user"), ("profile", "https://t.me/channel_name"),
        ("profile", "https://youtube.com/@handle"),
        ("profile", "https://linkedin.com/in/jane-doe"), ("profile", "https://vk.com/durov"),
        ("profile", "https://tiktok.com/@dancer"),
        ("btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
        ("btc", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
        ("eth", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
    }


def test_what_only_looks_like_a_selector_is_not_one() -> None:
    text = (
        "user@localhost x..y@example.org x.@example.org email@@example.org a@b.c0m "
        "2026-11-21 12345678 +0 123 4567 +999 123 4567 +44 12 +44 20 7946 0958 1234 5678 "
        "@ alone @12345 @a x.com/home twitter.com/search instagram.com/p/abc "
        "facebook.com/sharer.php t.me/joinchat youtube.com/watch "
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5 "
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD d41d8cd98f00b204e9800998ecf8427e")
    assert found(text) == set()


def test_what_touches_a_number_or_address_before_it_decides() -> None:
    btc, phone = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "+12025550143"
    persian = "\u06f0\u06f0\u06f9\u06f8\u06f9\u06f1\u06f2\u06f1\u06f2\u06f3\u06f4\u06f5"
    for text in (btc, phone, "00 1 202 555 0143", persian):  # the text's start
        assert len(find(text)) == 1, text
        assert find(text)[0].start == 0
    for before in (" ", "(", "\n", "-", "/", "\u00e9"):  # not a letter or digit of its kind
        assert found(before + btc) == {("btc", btc)}, before
    for before in ("a", "Z", "0", "9"):
        assert found(before + btc) == set(), before
    for before in (" ", "(", "\n", "-"):
        assert found(before + phone) == {("phone", phone)}, before
        assert {k for k, _ in found(before + "0012025550143")} == {"phone"}, before
    for before in ("a", "_", "7", "+", "\u06f5"):  # a word's letter or digit, or a second +
        assert found(before + phone) == set(), before
        assert found(before + "0012025550143") == set(), before
        assert found(before + persian) == set(), before


def test_a_page_counts_each_once_and_is_bounded() -> None:
    text = "a@example.org, then again a@example.org and A@Example.org"
    (only,) = find(text)
    assert (only.kind, only.value, only.count, only.start, only.shown) == \
        ("email", "a@example.org", 3, 0, "a@example.org")
    flood = " ".join(f"user{i}@example.org" for i in range(MAX_PER_TEXT + 50))
    assert len(find(flood)) == MAX_PER_TEXT


def test_the_seed_texts_hold_none() -> None:
    """Thirty thousand characters of English, Persian and Russian statements, with dates,
    figures and names: nothing in them is a selector, and nothing is found."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("0*.txt"))]
    assert sum(len(t) for t in texts) > 20_000
    for text in texts:
        assert find(text) == []
