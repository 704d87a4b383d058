"""Open and click tracking end to end: a real `postoffice serve` delivers a tracked message's
recipients one transaction each, with their own tokens, DKIM-signed over the rewritten
content; the links work on the http listener; an untracked message goes out as stored."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from postoffice.message import mime
from postoffice.policy.tracking import decode, tracking_secret
from postoffice.testing.scripted_smtp import Received, Script, ScriptedSmtp
from postoffice.testing.server import ServerProcess, postoffice

HTML = ("<html><body><p>Your order \u2615</p>"
        '<a href="https://shop.example/o?id=1&amp;r=mail">view</a> '
        '<a href="mailto:help@example.test">help</a></body></html>')
TEXT = "Your order: https://shop.example/o?id=1"


def wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := predicate():
            return found
        time.sleep(0.1)
    return None


def received(peer: ScriptedSmtp) -> list[Received]:
    return [m for s in peer.sessions for m in s.messages]


def without_signatures(content: bytes) -> bytes:
    while content.startswith(b"DKIM-Signature:"):
        end = re.search(rb"\r\n(?![ \t])", content)
        assert end is not None
        content = content[end.end():]
    return content


def test_tracked_recipients_get_their_own_content_and_untracked_mail_is_unchanged(
        tmp_path: Path) -> None:
    dkim = pytest.importorskip("dkim")
    with ScriptedSmtp(Script()) as peer:
        host, port = peer.address
        server = ServerProcess(tmp_path / "data", config={
            "delivery": {"smarthost": f"{host}:{port}"},
            "tracking": {"host": "t.example.test", "scheme": "https"}})
        with server:
            created = postoffice("apikey", "create", "--tenant", "default", "--scope", "admin",
                                 "--json", data=server.data)
            key = json.loads(created.stdout)["key"]
            server.start()
            address, http_port = server.address("http")
            with httpx.Client(base_url=f"http://{address}:{http_port}", timeout=10,
                              headers={"Authorization": f"Bearer {key}"}) as client:
                def send(subject: str, **tracking: bool) -> str:
                    sent = client.post("/v1/messages", json={
                        "from": "shop@example.test", "to": ["ann@far.example", "bob@far.example"],
                        "subject": subject, "text": TEXT, "html": HTML, **tracking})
                    assert sent.status_code == 202, sent.text
                    return str(sent.json()["id"])

                tracked_id = send("tracked", track_opens=True, track_clicks=True)
                plain_id = send("plain")
                assert wait_for(lambda: len(received(peer)) == 3), received(peer)
                stored = {i: client.get(f"/v1/messages/{i}/raw").content
                          for i in (tracked_id, plain_id)}
                messages = received(peer)
                tracked = [m for m in messages if b"Subject: tracked" in m.content]
                plain = [m for m in messages if b"Subject: plain" in m.content]

                # One transaction per recipient of the tracked message, one for both otherwise.
                assert sorted(m.recipients for m in tracked) == [("ann@far.example",),
                                                                 ("bob@far.example",)]
                assert [m.recipients for m in plain] == [("ann@far.example", "bob@far.example")]
                assert without_signatures(plain[0].content) == stored[plain_id]

                zone = DnsZone(server)
                secret = tracking_secret((server.data / "keys" / "verp.key").read_bytes())
                tokens = {}
                for m in tracked:
                    html_part = next(p for p in mime.parse(m.content).walk()
                                     if p.content_type == "text/html")
                    text_part = next(p for p in mime.parse(m.content).walk()
                                     if p.content_type == "text/plain")
                    html = mime.decoded_body(m.content, html_part).decode()
                    assert mime.decoded_body(m.content, text_part).decode() == TEXT
                    assert "\u2615" in html and 'href="mailto:help@example.test"' in html
                    opens = re.findall(r'<img src="https://t\.example\.test/t/o/([\w-]+)" '
                                       r'width="1" height="1" alt=""></body>', html)
                    clicks = re.findall(r'href="https://t\.example\.test/t/c/([\w-]+)"', html)
                    assert len(opens) == 1 and len(clicks) == 1, html
                    token_open, token_click = decode(opens[0], secret), decode(clicks[0], secret)
                    assert token_open is not None and token_click is not None
                    assert token_click.url == "https://shop.example/o?id=1&r=mail"
                    assert token_open.message_id == token_click.message_id == tracked_id
                    assert token_open.item == token_click.item
                    tokens[m.recipients[0]] = (opens[0], clicks[0], token_open)
                    # The stored message is untouched; what went out is signed as it went.
                    assert without_signatures(m.content) != stored[tracked_id]
                    assert m.content.count(b"DKIM-Signature: ") == 2
                    verifier = dkim.DKIM(m.content)
                    assert verifier.verify(idx=0, dnsfunc=zone.get)
                    assert verifier.verify(idx=1, dnsfunc=zone.get)
                assert tokens["ann@far.example"][2].item != tokens["bob@far.example"][2].item

                # The links of the mail work on the http listener.
                ann_open, ann_click, _ = tokens["ann@far.example"]
                assert client.get(f"/t/o/{ann_open}").status_code == 200
                redirect = client.get(f"/t/c/{ann_click}")
                assert redirect.status_code == 302
                assert redirect.headers["location"] == "https://shop.example/o?id=1&r=mail"
                events = client.get(f"/v1/messages/{tracked_id}").json()["events"]
                assert [(e["type"], e["recipient"]) for e in events
                        if e["type"] in ("opened", "clicked")] == [
                    ("opened", "ann@far.example"), ("clicked", "ann@far.example")]


class DnsZone:
    """The TXT records `postoffice domain dns` publishes, for dkimpy's dnsfunc."""

    def __init__(self, server: ServerProcess) -> None:
        records = json.loads(postoffice("domain", "dns", "example.test", "--json",
                                        data=server.data).stdout)
        self.records = {(r["name"] + ".").encode(): r["value"].encode()
                        for r in records if r["type"] == "TXT"}

    def get(self, name: bytes, timeout: int = 5) -> bytes:
        return self.records.get(name, b"")
