"""The address guard: the crawler does not wander into private networks.

A page, or a redirect, that points at a loopback, private, link-local or reserved
address (a router, a cloud metadata service at 169.254.169.254, a database on the
archivist's own machine) is not fetched unless ``--allow-private`` says so. The
hosts of the seeds the user typed are always allowed. The check is made on the
addresses the name resolves to, at connect time, and the connection goes to the
address that was checked, so DNS rebinding cannot slip past it.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field


class Blocked(Exception):
    """A connection the guard refused; the message says why."""


def is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address)  # a scope (fe80::1%eth0) is part of the address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


@dataclass
class AddressGuard:
    allowed_hosts: set[str] = field(default_factory=set)  # the seeds' hosts, lower case
    allow_private: bool = False

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to, in order; Blocked when none may be used."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror:
            raise
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if self.allow_private or host.lower() in self.allowed_hosts:
            return addresses
        public = [a for a in addresses if not is_private(a)]
        if not public:
            raise Blocked(
                f"{host} resolves to a private or reserved address ({', '.join(addresses)}); "
                "not fetched without --allow-private"
            )
        return public
