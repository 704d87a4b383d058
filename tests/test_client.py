"""postoffice.client against a real `postoffice serve`: what it sends arrives at the smarthost,
the log reads back, domains and keys are managed, and every failure is one ApiError."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from postoffice.client import ApiError, Client
from postoffice.testing.api_server import serving_api
from postoffice.testing.scripted_smtp import Received, ScriptedSmtp
from postoffice.testing.server import ServerProcess


@dataclass
class Served:
    server: ServerProcess
    peer: ScriptedSmtp
    base: str
    key: str

    def client(self, key: str | None = None) -> Client:
        return Client(self.base, self.key if key is None else key, timeout=10)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving_api(tmp_path_factory.mktemp("client") / "data") as api:
        yield Served(api.server, api.peer, api.base + "/", api.key)


def arrived(peer: ScriptedSmtp, marker: bytes, timeout: float = 20.0) -> Received:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in peer.messages if marker in m.content]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no message with {marker!r} reached the smarthost")


def test_send_text_html_and_attachment(served: Served) -> None:
    sent = served.client().send(
        from_="Shop <shop@example.test>", to="ann@far.example", cc=["cat@far.example"],
        bcc=["hid@far.example"], reply_to=["help@example.test"], subject="Order 1001",
        text="Thanks for order 1001", html="<p>Thanks for <b>order 1001</b></p>",
        attachments=[("order.txt", b"one widget\n", "text/plain"),
                     ("blob.bin", bytes(range(256)))],
        headers={"X-Order": "1001"}, category="orders", lane="transactional",
        metadata={"order": "1001"})
    assert set(sent) == {"id", "message_id", "recipients"}
    assert sent["recipients"] == [{"address": a, "status": "queued"} for a in
                                  ("ann@far.example", "cat@far.example", "hid@far.example")]
    message = arrived(served.peer, b"X-Order: 1001")
    assert sorted(message.recipients) == ["ann@far.example", "cat@far.example",
                                          "hid@far.example"]
    content = message.content
    assert b"Subject: Order 1001" in content and b"Reply-To: help@example.test" in content
    assert b"hid@far.example" not in content.split(b"\r\n\r\n", 1)[0]
    assert b"text/html" in content and b'filename="order.txt"' in content
    assert b'filename="blob.bin"' in content and b"DKIM-Signature:" in content
    assert sent["message_id"].encode() in content


def test_send_raw_takes_recipients_from_headers_or_arguments(served: Served) -> None:
    raw = (b"From: Shop <shop@example.test>\nTo: raw@far.example\nBcc: secret@far.example\n"
           b"Subject: Raw one\n\nwritten by hand\n")
    sent = served.client().send_raw(raw, category="raw")
    assert [r["address"] for r in sent["recipients"]] == ["raw@far.example",
                                                         "secret@far.example"]
    message = arrived(served.peer, b"Subject: Raw one")
    assert sorted(message.recipients) == ["raw@far.example", "secret@far.example"]
    assert b"secret@far.example" not in message.content and b"Message-ID:" in message.content
    other = served.client().send_raw(raw.replace(b"Raw one", b"Raw two"), to=["only@far.example"])
    assert [r["address"] for r in other["recipients"]] == ["only@far.example"]
    assert arrived(served.peer, b"Subject: Raw two").recipients == ("only@far.example",)


def test_messages_message_and_raw_round_trip(served: Served) -> None:
    client = served.client()
    sent = client.send(from_="shop@example.test", to=["log@far.example"], subject="Logged",
                       text="keep me", category="log-test", metadata={"k": "v"})
    found = client.messages(recipient="log@far.example", category="log-test", limit=10,
                            status=None)
    assert [m["id"] for m in found["messages"]] == [sent["id"]]
    assert found["next_before"] is None
    detail = client.message(sent["id"])
    assert (detail["subject"], detail["category"], detail["metadata"]) == (
        "Logged", "log-test", {"k": "v"})
    assert isinstance(detail["events"], list)
    content = client.raw(sent["id"])
    assert b"Subject: Logged" in content and b"keep me" in content
    with pytest.raises(ApiError) as missing:
        client.message("no-such-id")
    assert (missing.value.status, missing.value.code) == (404, "not_found")


def test_domains(served: Served) -> None:
    client = served.client()
    assert "example.test" in [d["name"] for d in client.domains()]
    added = client.add_domain("Shop.Example")
    assert added["name"] == "shop.example" and added["created_at"] > 0
    assert "shop.example" in [d["name"] for d in client.domains()]
    with pytest.raises(ApiError) as twice:
        client.add_domain("shop.example")
    assert (twice.value.status, twice.value.code, twice.value.field) == (409, "conflict", "name")
    assert client.remove_domain("shop.example") is None
    assert "shop.example" not in [d["name"] for d in client.domains()]
    with pytest.raises(ApiError) as gone:
        client.remove_domain("shop.example")
    assert gone.value.status == 404


def test_api_keys(served: Served) -> None:
    client = served.client()
    made = client.create_api_key(name="shop app")
    assert made["key"].startswith(f"po_{made['id']}_") and made["scope"] == "send"
    listed = {k["id"]: k for k in client.api_keys()}
    assert listed[made["id"]]["name"] == "shop app" and "key" not in listed[made["id"]]
    sender = served.client(made["key"])
    assert sender.send(from_="shop@example.test", to="k@far.example", text="ok")["id"]
    with pytest.raises(ApiError) as forbidden:
        sender.messages()
    assert (forbidden.value.status, forbidden.value.code) == (403, "forbidden")
    assert "read is needed" in forbidden.value.message
    assert client.create_api_key(scope="read")["scope"] == "read"
    assert client.revoke_api_key(made["id"]) is None
    with pytest.raises(ApiError) as revoked:
        sender.send(from_="shop@example.test", to="k@far.example", text="no")
    assert (revoked.value.status, revoked.value.code) == (401, "unauthorized")


def test_invalid_request_names_the_field(served: Served) -> None:
    with pytest.raises(ApiError) as invalid:
        served.client().send(from_="shop@example.test", to="x@far.example",
                             subject="Hi\r\nBcc: all@far.example", text="body")
    error = invalid.value
    assert (error.status, error.code, error.field) == (422, "invalid", "subject")
    assert str(error) == f"invalid: {error.message} (field subject)"
    with pytest.raises(ApiError) as foreign:
        served.client().send(from_="me@elsewhere.example", to="x@far.example", text="body")
    assert (foreign.value.status, foreign.value.code, foreign.value.field) == (
        403, "sender_not_allowed", "from")


def test_unknown_key_is_401(served: Served) -> None:
    with pytest.raises(ApiError) as unknown:
        served.client("po_0123456789ab_" + "x" * 43).domains()
    assert (unknown.value.status, unknown.value.code, unknown.value.field) == (
        401, "unauthorized", None)
    assert unknown.value.message == "unknown API key"


def test_connection_refused_is_status_0() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ApiError) as refused:
        Client(f"http://127.0.0.1:{port}", "po_0123456789ab_x", timeout=5).domains()
    assert (refused.value.status, refused.value.code) == (0, "connection")
    assert f"127.0.0.1:{port}" in refused.value.message


class _Proxy(http.server.BaseHTTPRequestHandler):
    """Answers like a proxy in front of the server: 502 with an HTML page, 200 with text."""

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        status, body = (502, b"<html><body>Bad Gateway</body></html>") \
            if self.path.startswith("/v1/domains") else (200, b"not json")
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_answers_that_are_not_the_api_json(tmp_path: Path) -> None:
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        client = Client(f"http://127.0.0.1:{proxy.server_address[1]}", "po_x", timeout=5)
        with pytest.raises(ApiError) as gateway:
            client.domains()
        assert (gateway.value.status, gateway.value.code, gateway.value.field) == (
            502, "bad_gateway", None)
        assert "Bad Gateway" in gateway.value.message
        with pytest.raises(ApiError) as garbled:
            client.message("x")
        assert garbled.value.code == "bad_response"
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(5)
