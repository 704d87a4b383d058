"""TLS for the listeners: server contexts and the self-signed certificate of a new install."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context with modern defaults (TLS 1.2+)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    ctx.options |= ssl.OP_NO_COMPRESSION
    return ctx


def generate_self_signed(hostname: str, cert: Path, key: Path, days: int = 825) -> None:
    """Write a self-signed certificate for `hostname` (and localhost, 127.0.0.1, ::1)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName(hostname), x509.DNSName("localhost")]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_bytes)
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def describe(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str:
    """"TLSv1.3 TLS_AES_256_GCM_SHA384" for Received headers and logs; "" without TLS."""
    if ssl_object is None:
        return ""
    cipher = ssl_object.cipher()
    version = ssl_object.version() or ""
    return f"{version} {cipher[0]}" if cipher else version
