"""A local RFC 3161 time-stamping authority: `openssl ts -reply` behind a loopback HTTP server.

Its certificates are made here: a root, an intermediate, and a TSA certificate with the
critical timeStamping extended key usage. Tokens embed the TSA certificate and the
chain, in the order given (root first, to show order does not matter).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CONFIG = """
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/chain.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5.6
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = yes
ess_cert_id_alg = sha256
"""


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(subject: str, issuer: str, key: ec.EllipticCurvePrivateKey,
          signer: ec.EllipticCurvePrivateKey, *, ca: bool, not_after: dt.datetime,
          tsa: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    if tsa:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    return builder.sign(signer, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class LocalTSA:
    def __init__(self, folder: Path, *, tsa_lifetime: dt.timedelta = dt.timedelta(days=30)):
        self.dir = folder
        folder.mkdir(parents=True, exist_ok=True)
        far = dt.datetime.now(dt.UTC) + dt.timedelta(days=3650)
        root_key, mid_key, tsa_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
        self.root = _cert("custody test TSA root", "custody test TSA root", root_key, root_key,
                          ca=True, not_after=far)
        self.intermediate = _cert("custody test TSA intermediate", "custody test TSA root",
                                  mid_key, root_key, ca=True, not_after=far)
        self.tsa_cert = _cert("custody test TSA", "custody test TSA intermediate", tsa_key,
                              mid_key, ca=False, tsa=True,
                              not_after=dt.datetime.now(dt.UTC) + tsa_lifetime)
        (folder / "tsa.key").write_bytes(tsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        (folder / "tsa.pem").write_bytes(_pem(self.tsa_cert))
        (folder / "chain.pem").write_bytes(_pem(self.root) + _pem(self.intermediate))
        (folder / "root.pem").write_bytes(_pem(self.root))
        (folder / "serial").write_text("01\n")
        (folder / "tsa.cnf").write_text(CONFIG.format(dir=folder))
        self.requests = 0
        self.refuse = False
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                tsa.requests += 1
                query = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if tsa.refuse:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                answer = tsa.reply(query)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/tsr"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def root_pem(self) -> Path:
        return self.dir / "root.pem"

    def reply(self, query: bytes) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            q, r = Path(tmp) / "q.tsq", Path(tmp) / "r.tsr"
            q.write_bytes(query)
            subprocess.run(["openssl", "ts", "-reply", "-config", str(self.dir / "tsa.cnf"),
                            "-queryfile", str(q), "-out", str(r)], check=True,
                           capture_output=True)
            return r.read_bytes()

    def __enter__(self) -> LocalTSA:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
