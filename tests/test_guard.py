"""The address guard, on its own: which addresses count as private, and what it lets
through to connect to."""

from __future__ import annotations

import pytest

from custody.capture.guard import AddressGuard, Blocked, is_private


@pytest.mark.parametrize("address, private", [
    ("127.0.0.1", True), ("127.255.255.254", True), ("10.1.2.3", True), ("172.16.0.1", True),
    ("172.31.255.255", True), ("192.168.1.1", True), ("169.254.169.254", True),
    ("100.64.0.1", True), ("0.0.0.0", True), ("224.0.0.1", True), ("255.255.255.255", True),
    ("::1", True), ("fe80::1%eth0", True), ("fc00::1", True), ("::ffff:127.0.0.1", True),
    ("::ffff:10.0.0.1", True), ("ff02::1", True), ("2001:db8::1", True),
    ("8.8.8.8", False), ("1.1.1.1", False), ("172.32.0.1", False), ("2606:4700::1111", False),
    ("::ffff:8.8.8.8", False), ("93.184.216.34", False),
])
def test_which_addresses_are_private(address: str, private: bool) -> None:
    assert is_private(address) is private


def test_loopback_names_are_refused_unless_a_seed_or_allowed() -> None:
    guard = AddressGuard()
    with pytest.raises(Blocked) as caught:
        guard.resolve("127.0.0.1", 80)
    assert str(caught.value) == ("127.0.0.1 resolves to a private or reserved address "
                                 "(127.0.0.1); not fetched without --allow-private")
    with pytest.raises(Blocked):
        guard.resolve("localhost", 80)
    seeds = AddressGuard({"localhost"})
    assert seeds.resolve("LOCALHOST", 80)  # the seed's host, in any case
    assert set(seeds.resolve("localhost", 80)) <= {"127.0.0.1", "::1"}
    assert AddressGuard(allow_private=True).resolve("127.0.0.1", 80) == ["127.0.0.1"]


@pytest.mark.parametrize("host", ["127.0.0.1", "0x7f.1", "2130706433", "127.1", "[::1]",
                                  "0177.0.0.1"])
def test_numeric_spellings_of_loopback_are_refused(host: str) -> None:
    with pytest.raises(Blocked):
        AddressGuard().resolve(host.strip("[]"), 80)


def test_an_ipv6_seed_host_is_allowed() -> None:
    assert AddressGuard({"::1"}).resolve("::1", 80) == ["::1"]
    with pytest.raises(Blocked):
        AddressGuard({"127.0.0.1"}).resolve("::1", 80)


def test_names_that_do_not_resolve_raise_for_the_caller() -> None:
    import socket

    with pytest.raises(socket.gaierror):
        AddressGuard().resolve("no-such-host.invalid", 80)


def test_public_addresses_pass() -> None:
    assert AddressGuard().resolve("8.8.8.8", 443) == ["8.8.8.8"]
    assert AddressGuard({"example.org"}).resolve("93.184.216.34", 80) == ["93.184.216.34"]
