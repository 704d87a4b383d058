"""Test fixtures for TLS and MTA-STS: a certificate authority issuing server certificates, and
an HTTPS server that answers every GET with a configurable reply (a policy host)."""

from __future__ import annotations

import datetime
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from postoffice.server.tls import server_context

ENFORCE = b"version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.mx.example.test\r\nmax_age: 600\r\n"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class Authority:
    """A certificate authority for the test: issues server certificates for given names."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        public = self.key.public_key()
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("postoffice test CA"))
            .issuer_name(_name("postoffice test CA"))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def trust(self) -> ssl.SSLContext:
        """A client context that trusts this CA only."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def server(self, *names: str) -> ssl.SSLContext:
        """A server context with a certificate for ``names``, issued by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        stem = self.dir / names[0]
        cert_file, key_file = stem.with_suffix(".crt"), stem.with_suffix(".key")
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return server_context(cert_file, key_file)


@dataclass(frozen=True)
class Reply:
    """What the server answers."""

    body: bytes = ENFORCE
    status: int = 200
    content_type: str | None = "text/plain"
    framing: str = "length"
    """"length" (Content-Length), "chunked", or "close" (body ends with the connection)."""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0


class PolicyServer:
    """An HTTPS server (in a thread) answering every GET with ``reply``."""

    def __init__(self, context: ssl.SSLContext, host: str = "127.0.0.1", port: int = 0) -> None:
        self.reply = Reply()
        self.requests: list[tuple[str, str]] = []
        """(Host header, path) of each request."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                owner.requests.append((self.headers.get("Host", ""), self.path))
                reply = owner.reply
                time.sleep(reply.delay)
                head = [f"HTTP/1.1 {reply.status} Whatever"]
                if reply.content_type is not None:
                    head.append(f"Content-Type: {reply.content_type}")
                head += [f"{name}: {value}" for name, value in reply.headers]
                body = reply.body
                if reply.framing == "length":
                    head.append(f"Content-Length: {len(body)}")
                elif reply.framing == "chunked":
                    head.append("Transfer-Encoding: chunked")
                    half = len(body) // 2
                    body = b"".join(b"%x\r\n%s\r\n" % (len(part), part)
                                    for part in (body[:half], body[half:]) if part) + b"0\r\n\r\n"
                head.append("Connection: close")
                self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that went away (timeouts) is expected here

        self.httpd = Server((host, port), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join(5)
            self.httpd.server_close()
