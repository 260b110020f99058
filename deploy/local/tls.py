"""A private certificate authority for the local stack's TLS listeners (Kafka SSL and SASL_SSL,
and the SMTP mailboxes the transport-security tests start), made once per state directory with
the `openssl` command line tool. Without `openssl` the stack simply opens no TLS listener.

Everything here is for loopback tests only: the keys are unencrypted files in `<state>/conf/tls`.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_DAYS = "3650"


@dataclass(frozen=True)
class LocalCertificates:
    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def server_cert(self) -> Path:
        """For 127.0.0.1 and localhost, signed by the CA."""
        return self.directory / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    @property
    def server_keystore(self) -> Path:
        """The server's key and certificate chain as PKCS#12, the form Kafka reads."""
        return self.directory / "server.p12"

    @property
    def keystore_password_file(self) -> Path:
        return self.directory / "server.p12.password"

    @property
    def client_cert(self) -> Path:
        """A client certificate (CN=trailblazer-client) for listeners that require one."""
        return self.directory / "client.crt"

    @property
    def client_key(self) -> Path:
        return self.directory / "client.key"

    def keystore_password(self) -> str:
        return self.keystore_password_file.read_text().strip()

    def complete(self) -> bool:
        paths = (self.ca_cert, self.server_cert, self.server_key, self.server_keystore, self.client_cert)
        return all(path.is_file() for path in (*paths, self.client_key, self.keystore_password_file))


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


def ensure_certificates(directory: Path) -> LocalCertificates:
    """The CA, server and client certificates in `directory`, made if any is missing."""
    certificates = LocalCertificates(directory)
    if certificates.complete():
        return certificates
    directory.mkdir(parents=True, exist_ok=True)
    log.info("making a local certificate authority and certificates in %s", directory)
    _req_x509(directory / "ca.key", certificates.ca_cert, "/CN=Trailblazer local test CA")
    _signed(directory, "server", "/CN=localhost", "serverAuth", "subjectAltName=IP:127.0.0.1,DNS:localhost")
    _signed(directory, "client", "/CN=trailblazer-client", "clientAuth", None)
    password = secrets.token_hex(16)
    _openssl(
        "pkcs12",
        "-export",
        "-in",
        str(certificates.server_cert),
        "-inkey",
        str(certificates.server_key),
        "-certfile",
        str(certificates.ca_cert),
        "-name",
        "server",
        "-out",
        str(certificates.server_keystore),
        "-passout",
        f"pass:{password}",
    )
    certificates.keystore_password_file.write_text(password + "\n")
    return certificates


def _req_x509(key: Path, cert: Path, subject: str) -> None:
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(cert),
        "-days",
        _DAYS,
        "-subj",
        subject,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )


def _signed(directory: Path, name: str, subject: str, usage: str, alt_names: str | None) -> None:
    key, request, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.crt"
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(request), "-subj", subject)
    extensions = directory / f"{name}.ext"
    lines = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usage}",
        "subjectKeyIdentifier=hash",
        "authorityKeyIdentifier=keyid,issuer",
    ]
    extensions.write_text("\n".join([*lines, *([alt_names] if alt_names else [])]) + "\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        str(request),
        "-CA",
        str(directory / "ca.crt"),
        "-CAkey",
        str(directory / "ca.key"),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        _DAYS,
        "-extfile",
        str(extensions),
    )
    request.unlink()
    extensions.unlink()


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")
