"""The certificates the recording proxy shows the browser: one capture's own.

The browser talks TLS to the proxy, which must answer for every host the page names. For
each capture custody makes a certificate authority, in memory only, and one key for
every leaf it signs; Chromium is told to accept exactly that key
(``--ignore-certificate-errors-spki-list``), so nothing in the system's trust store
changes, and the authority dies with the capture. Upstream, custody's own recorder checks
the real server's certificate as any capture does.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class CaptureCA:
    """An authority for one capture, and TLS server contexts for the hosts asked for."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder  # a private temporary folder: the contexts read key files
        now = dt.datetime.now(dt.UTC)
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                             "custody recording proxy, this capture only")])
        self._ca_name = name
        self._ca = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self._ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self._ca_key, hashes.SHA256())
        )
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        key_pem = self._leaf_key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption())
        self._key_path = folder / "leaf.key"
        self._key_path.write_bytes(key_pem)
        self._key_path.chmod(0o600)

    @property
    def spki_hash(self) -> str:
        """base64 SHA-256 of the leaves' public key: what Chromium is told to accept."""
        der = self._leaf_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        digest = hashes.Hash(hashes.SHA256())
        digest.update(der)
        return base64.b64encode(digest.finalize()).decode("ascii")

    def context_for(self, host: str) -> ssl.SSLContext:
        """A server context whose certificate names ``host``, made once per host."""
        with self._lock:
            context = self._contexts.get(host)
            if context is None:
                context = self._contexts[host] = self._make(host)
            return context

    def _make(self, host: str) -> ssl.SSLContext:
        now = dt.datetime.now(dt.UTC)
        try:
            alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            alt = x509.DNSName(host)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])]))
            .issuer_name(self._ca_name).public_key(self._leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(self._ca_key, hashes.SHA256())
        )
        with tempfile.NamedTemporaryFile("wb", dir=self.folder, suffix=".pem",
                                         delete=False) as fh:
            fh.write(leaf.public_bytes(serialization.Encoding.PEM))
            fh.write(self._ca.public_bytes(serialization.Encoding.PEM))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(fh.name, self._key_path)
        context.set_alpn_protocols(["http/1.1"])  # the proxy speaks HTTP/1.1 to the browser
        return context
