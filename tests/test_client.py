"""postoffice.client against a real `postoffice serve`: what it sends arrives at the smarthost,
the log reads back, domains, keys, templates, webhooks and suppressions are managed, stats
read back, and every failure is one ApiError."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from postoffice.client import ApiError, Client, verify_webhook
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
    # allow_private: the webhook test's receiver listens on loopback.
    with serving_api(tmp_path_factory.mktemp("client") / "data",
                     config={"webhooks": {"allow_private": True}}) as api:
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


def test_send_batch_renders_a_stored_template_per_recipient(served: Served) -> None:
    client = served.client()
    client.put_template("batch-welcome", subject="Welcome {{ name }}",
                        text="Hi {{ name }}, your code is {{ code }}.",
                        html="<p>Hi {{ name }}</p>")
    recipients = [
        {"to": "Ann <batch-ann@far.example>", "variables": {"name": "Ann", "code": "A-1"}},
        {"to": "batch-bob@far.example", "variables": {"name": "Bob", "code": "B-2"},
         "metadata": {"segment": "new"}},
        {"to": "batch-cat@far.example", "variables": {"name": "<b>Cat</b>", "code": "C-3"}},
    ]
    sent = client.send_batch(from_="News <news@example.test>", template="batch-welcome",
                             recipients=recipients, category="digest",
                             headers={"X-Batch": "w49"}, metadata={"campaign": "w49"},
                             idempotency_key="batch-w49")
    results = sent["messages"]
    assert [(r["to"], r["status"], r["error"]) for r in results] == [
        (r["to"], "queued", None) for r in recipients]
    assert len({r["id"] for r in results}) == 3
    for name, code, address in (("Ann", "A-1", "batch-ann@far.example"),
                                ("Bob", "B-2", "batch-bob@far.example")):
        message = arrived(served.peer, f"Subject: Welcome {name}".encode())
        assert message.recipients == (address,)
        assert f"Hi {name}, your code is {code}.".encode() in message.content
        assert b"X-Batch: w49" in message.content
    cat = arrived(served.peer, b"your code is C-3.")
    assert cat.recipients == ("batch-cat@far.example",)
    assert b"&lt;b&gt;Cat&lt;/b&gt;" in cat.content  # the HTML part is autoescaped
    assert client.message(results[1]["id"])["metadata"] == {"campaign": "w49",
                                                            "segment": "new"}
    again = client.send_batch(from_="News <news@example.test>", template="batch-welcome",
                              recipients=recipients, category="digest",
                              headers={"X-Batch": "w49"}, metadata={"campaign": "w49"},
                              idempotency_key="batch-w49")
    assert again == sent
    with pytest.raises(ApiError) as reused:
        client.send_batch(from_="news@example.test", template="batch-welcome",
                          recipients=recipients[:1], idempotency_key="batch-w49")
    assert (reused.value.status, reused.value.code, reused.value.field) == (
        409, "conflict", "Idempotency-Key")


def test_send_batch_inline_and_its_errors(served: Served) -> None:
    client = served.client()
    sent = client.send_batch(from_="news@example.test", subject="Inline {{ n }}",
                             text="number {{ n }}",
                             recipients=[{"to": "inline-1@far.example", "variables": {"n": 1}},
                                         "inline-2@far.example"])
    first, second = sent["messages"]
    assert first["status"] == "queued"
    assert second["status"] == "rejected" and second["id"] is None
    assert second["error"]["field"] == "recipients[1].variables"
    assert arrived(served.peer, b"Subject: Inline 1").recipients == ("inline-1@far.example",)
    with pytest.raises(ApiError) as both:
        client.send_batch(from_="news@example.test", template="batch-welcome", subject="x",
                          recipients=["x@far.example"])
    assert (both.value.status, both.value.code, both.value.field) == (422, "invalid", "subject")
    with pytest.raises(ApiError) as unknown:
        client.send_batch(from_="news@example.test", template="no-such-template",
                          recipients=["x@far.example"])
    assert (unknown.value.status, unknown.value.field) == (422, "template")
    with pytest.raises(ApiError) as empty:
        client.send_batch(from_="news@example.test", text="hi", recipients=[])
    assert (empty.value.status, empty.value.code, empty.value.field) == (
        422, "invalid", "recipients")
    with pytest.raises(ApiError) as bad_address:
        client.send_batch(from_="news@example.test", text="hi",
                          recipients=[{"to": "x@far.example", "bogus": 1}])
    assert (bad_address.value.status, bad_address.value.field) == (422, "recipients[0].bogus")


def test_send_tracking_unsubscribe_schedule_and_idempotency(served: Served) -> None:
    client = served.client()

    def tracked(key: str = "tracked-1") -> dict[str, Any]:
        return client.send(from_="shop@example.test", to="track@far.example",
                           subject="Tracked one", text="see https://shop.example/offer",
                           html='<p><a href="https://shop.example/offer">offer</a></p>',
                           track_opens=True, track_clicks=True, unsubscribe=True,
                           idempotency_key=key)

    sent = tracked()
    assert tracked() == sent
    with pytest.raises(ValueError):
        tracked("\u20ac-key")
    content = arrived(served.peer, b"Subject: Tracked one").content
    assert b"/t/o/" in content and b"/t/c/" in content
    assert b"List-Unsubscribe:" in content and b"List-Unsubscribe-Post:" in content
    assert len([m for m in served.peer.messages if b"Subject: Tracked one" in m.content]) == 1
    later = client.send(from_="shop@example.test", to="later@far.example", subject="Later",
                        text="tomorrow", send_at=time.time() + 3600)
    assert later["recipients"] == [{"address": "later@far.example", "status": "queued"}]
    assert client.message(later["id"])["subject"] == "Later"
    with pytest.raises(ApiError) as past:
        client.send(from_="shop@example.test", to="x@far.example", text="x",
                    send_at=time.time() - 3600)
    assert (past.value.status, past.value.code, past.value.field) == (422, "invalid", "send_at")


def test_templates_round_trip(served: Served) -> None:
    client = served.client()
    made = client.put_template("receipt", subject="Receipt {{ n }}", text="Order {{ n }}")
    assert (made["name"], made["subject"], made["text"], made["html"]) == (
        "receipt", "Receipt {{ n }}", "Order {{ n }}", None)
    assert made["created_at"] > 0 and made["updated_at"] >= made["created_at"]
    assert client.template("receipt") == made
    assert "receipt" in [t["name"] for t in client.templates()]
    replaced = client.put_template("receipt", subject="Paid {{ n }}", html="<p>{{ n }}</p>")
    assert (replaced["subject"], replaced["text"], replaced["html"]) == (
        "Paid {{ n }}", None, "<p>{{ n }}</p>")
    assert replaced["created_at"] == made["created_at"]
    assert client.template("receipt")["subject"] == "Paid {{ n }}"
    with pytest.raises(ApiError) as broken:
        client.put_template("receipt", text="{% if %}")
    assert (broken.value.status, broken.value.code, broken.value.field) == (
        422, "invalid", "text")
    with pytest.raises(ApiError) as empty:
        client.put_template("receipt", subject="only a subject")
    assert (empty.value.status, empty.value.field) == (422, "text")
    assert client.delete_template("receipt") is None
    assert "receipt" not in [t["name"] for t in client.templates()]
    with pytest.raises(ApiError) as gone:
        client.template("receipt")
    assert (gone.value.status, gone.value.code) == (404, "not_found")
    with pytest.raises(ApiError) as gone_again:
        client.delete_template("receipt")
    assert gone_again.value.status == 404


class _Receiver(http.server.BaseHTTPRequestHandler):
    """A webhook endpoint: keeps each call's headers and body, answers 204."""

    calls: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.calls.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhooks_round_trip(served: Served) -> None:
    client = served.client()
    _Receiver.calls.clear()
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hooks"
        made = client.create_webhook(url, ["complained"])
        hook_id = made["id"]
        assert (made["url"], made["events"], made["active"]) == (url, ["complained"], True)
        old_secret = made["secret"]
        assert old_secret.startswith("whsec_")
        listed = {h["id"]: h for h in client.webhooks()}
        assert listed[hook_id]["url"] == url and "secret" not in listed[hook_id]
        assert client.webhook(hook_id) == listed[hook_id]
        changed = client.update_webhook(hook_id, events=["complained", "bounced"],
                                        active=False)
        assert (changed["events"], changed["active"]) == (["complained", "bounced"], False)
        assert client.update_webhook(hook_id, active=True)["active"] is True
        rotated = client.rotate_webhook_secret(hook_id)
        assert rotated["id"] == hook_id and rotated["secret"].startswith("whsec_")
        assert rotated["secret"] != old_secret
        delivery = client.test_webhook(hook_id)
        assert (delivery["event_type"], delivery["status"]) == ("test", "pending")
        deadline = time.monotonic() + 20
        while not _Receiver.calls and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _Receiver.calls, "the test delivery did not arrive"
        headers, body = _Receiver.calls[0]
        assert json.loads(body)["id"] == delivery["id"]
        assert headers["X-Postoffice-Event"] == "test"
        signature = headers["X-Postoffice-Signature"]
        assert verify_webhook(rotated["secret"], signature, body)
        assert not verify_webhook(old_secret, signature, body)
        while time.monotonic() < deadline:
            found = client.webhook_deliveries(hook_id, status="delivered")["deliveries"]
            if found:
                break
            time.sleep(0.05)
        assert [d["id"] for d in found] == [delivery["id"]]
        assert [a["status_code"] for a in found[0]["attempts"]] == [204]
        page = client.webhook_deliveries(hook_id, limit=1)
        assert len(page["deliveries"]) == 1 and page["next_before"] == delivery["id"]
        assert client.webhook_deliveries(hook_id, status="failed")["deliveries"] == []
        with pytest.raises(ApiError) as wrong:
            client.update_webhook(hook_id, events=["delivered", "nonsense"])
        assert (wrong.value.status, wrong.value.field) == (422, "events[1]")
        assert client.delete_webhook(hook_id) is None
        assert hook_id not in [h["id"] for h in client.webhooks()]
        with pytest.raises(ApiError) as gone:
            client.webhook(hook_id)
        assert (gone.value.status, gone.value.code) == (404, "not_found")
    finally:
        receiver.shutdown()
        receiver.server_close()
        thread.join(5)


def test_suppressions_add_list_export_import_remove(served: Served) -> None:
    client = served.client()
    added = client.add_suppression("Sup-One@far.example", reason="unsubscribe",
                                   category="news")
    assert (added["address"], added["reason"], added["category"], added["expires_at"]) == (
        "sup-one@far.example", "unsubscribe", "news", None)
    found = client.suppressions(address="sup-one@far.example")
    assert [s["category"] for s in found["suppressions"]] == ["news"]
    assert found["next_before"] is None
    sent = client.send(from_="shop@example.test", to="sup-one@far.example", text="news",
                       category="news")
    assert sent["recipients"] == [{"address": "sup-one@far.example", "status": "suppressed"}]
    expiring = client.add_suppression("sup-two@far.example", expires_at=time.time() + 3600)
    assert expiring["reason"] == "manual" and expiring["expires_at"] > time.time()
    exported = client.export_suppressions()
    lines = exported.decode().splitlines()
    assert lines[0] == "address,reason,category,created_at,expires_at"
    assert any(line.startswith("sup-one@far.example,unsubscribe,news,") for line in lines)
    result = client.import_suppressions(
        "address,reason,category,created_at,expires_at\n"
        "sup-three@far.example,complaint,,,\n"
        "not an address,,,,\n"
        "sup-four@far.example,,promo,2024-06-01T10:00:00+00:00,\n")
    assert result["imported"] == 2
    assert [e["line"] for e in result["errors"]] == [3]
    assert client.suppressions(address="sup-three@far.example")["suppressions"][0][
        "reason"] == "complaint"
    promo = client.suppressions(category="promo", reason="manual")["suppressions"]
    assert [(s["address"], s["created_at"]) for s in promo] == [
        ("sup-four@far.example", 1717236000.0)]
    assert len(client.suppressions(limit=1)["suppressions"]) == 1
    with pytest.raises(ApiError) as other_scope:
        client.remove_suppression("sup-one@far.example", category="other")
    assert other_scope.value.status == 404
    assert client.remove_suppression("sup-one@far.example", category="news") is None
    assert client.suppressions(address="sup-one@far.example")["suppressions"] == []
    for address in ("sup-two@far.example", "sup-three@far.example", "sup-four@far.example"):
        client.remove_suppression(address)
    with pytest.raises(ApiError) as gone:
        client.remove_suppression("sup-two@far.example")
    assert (gone.value.status, gone.value.code) == (404, "not_found")
    with pytest.raises(ApiError) as bad:
        client.add_suppression("someone@far.example", reason="bored")
    assert (bad.value.status, bad.value.field) == (422, "reason")


COUNTS = {"accepted", "queued", "delivered", "deferred", "bounced", "hard_bounced",
          "soft_bounced", "complained", "unsubscribed", "opened", "clicked", "suppressed"}
RATES = {"delivery", "bounce", "hard_bounce", "complaint", "unsubscribe", "open", "click"}


def test_stats(served: Served) -> None:
    client = served.client()
    sent = client.send(from_="shop@example.test", to="stats@far.example", text="counted",
                       subject="Counted", category="stats-test")
    assert sent["id"]
    arrived(served.peer, b"Subject: Counted")
    now = time.time()
    deadline = time.monotonic() + 20
    while True:
        stats = client.stats(since=now - 3600, until=now + 60, group_by="category",
                             category="stats-test")
        if stats["totals"]["counts"]["delivered"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert set(stats) == {"group_by", "since", "until", "groups", "totals"}
    assert (stats["group_by"], stats["since"], stats["until"]) == (
        "category", now - 3600, now + 60)
    assert [g["key"] for g in stats["groups"]] == ["stats-test"]
    totals = stats["totals"]
    assert totals["key"] == "total" and set(totals["counts"]) == COUNTS
    assert set(totals["rates"]) == RATES
    assert (totals["counts"]["accepted"], totals["counts"]["delivered"]) == (1, 1)
    assert (totals["rates"]["delivery"], totals["rates"]["bounce"]) == (1.0, 0.0)
    assert totals["rates"]["open"] == 0.0
    default = client.stats()
    assert default["group_by"] == "day"
    assert abs(default["until"] - default["since"] - 7 * 86400) < 1
    with pytest.raises(ApiError) as reversed_span:
        client.stats(since=now, until=now - 60)
    assert (reversed_span.value.status, reversed_span.value.field) == (422, "since")
    with pytest.raises(ApiError) as grouping:
        client.stats(group_by="weekday")
    assert (grouping.value.status, grouping.value.field) == (422, "group_by")


def _signed(secret: str, t: int, body: bytes) -> str:
    """The header as docs/api.md defines it, made here independently of the client."""
    mac = hmac.new(secret.encode("utf-8"), str(t).encode() + b"." + body, hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


def test_verify_webhook() -> None:
    secret = "whsec_test-secret"
    body = b'{"id":7,"webhook_id":3,"event":{"type":"test"}}'
    now = 1_700_000_000
    header = _signed(secret, now, body)
    assert verify_webhook(secret, header, body, now=now + 10)
    assert verify_webhook(secret, header, body, now=now - 299)
    assert verify_webhook(secret, _signed(secret, int(time.time()), body), body)
    assert not verify_webhook(secret, header, body.replace(b"7", b"8"), now=now)
    assert not verify_webhook("whsec_other", header, body, now=now)
    assert not verify_webhook(secret, header, body, now=now + 301)
    assert verify_webhook(secret, header, body, tolerance=1000, now=now + 301)
    assert not verify_webhook(secret, header, body)  # 2023: stale today
    v1 = header.partition(",v1=")[2]
    for malformed in ("", f"v1={v1}", f"t=,v1={v1}", f"t=-{now},v1={v1}", f"t={now}",
                      f"t={now},v1={v1[:-1]}", f"t={now},v1={v1}é", f"t=²,v1={v1}",
                      f"t={'9' * 5000},v1={v1}"):
        assert not verify_webhook(secret, malformed, body, now=now), malformed
