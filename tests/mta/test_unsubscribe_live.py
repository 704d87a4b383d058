"""One-click unsubscribe end to end on a real `postoffice serve`: bulk mail leaves with
List-Unsubscribe per recipient (a transaction each, DKIM-signed over the fields), the mailto
works through the MX and the URL through the http listener, and later mail is suppressed."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from postoffice.testing.scripted_smtp import Script, ScriptedSmtp
from postoffice.testing.server import ServerProcess, postoffice

LINKS = re.compile(rb"List-Unsubscribe: <(https?://[^>]+)>,\r\n <mailto:([^?>]+)\?subject=unsubscribe>")


def header(content: bytes, name: bytes) -> list[bytes]:
    head = content.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    return [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
            if line.lower().startswith(name.lower() + b":")]


def test_bulk_mail_unsubscribes_by_post_and_by_mail(tmp_path: Path) -> None:
    dkim = pytest.importorskip("dkim")
    with ScriptedSmtp(Script()) as peer:
        host, port = peer.address
        server = ServerProcess(tmp_path / "data",
                               config={"delivery": {"smarthost": f"{host}:{port}"}})
        with server:
            created = postoffice("apikey", "create", "--tenant", "default", "--scope", "admin",
                                 "--json", data=server.data)
            key = json.loads(created.stdout)["key"]
            server.start()
            address, http_port = server.address("http")
            with httpx.Client(base_url=f"http://{address}:{http_port}", timeout=10,
                              headers={"Authorization": f"Bearer {key}"}) as client:

                def send(subject: str, to: list[str], **fields: Any) -> dict[str, Any]:
                    sent = client.post("/v1/messages", json={
                        "from": "news@example.test", "to": to, "subject": subject,
                        "text": "hello", "category": "news", **fields})
                    assert sent.status_code == 202, sent.text
                    result: dict[str, Any] = sent.json()
                    return result

                bulk = send("bulk", ["ann@far.example", "bob@far.example"], lane="bulk")
                send("plain", ["cy@far.example", "dee@far.example"])
                send("asked", ["eve@far.example"], unsubscribe=True)
                send("own", ["fay@far.example", "gus@far.example"], lane="bulk",
                     headers={"List-Unsubscribe": "<mailto:leave@example.test>"})
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and sum(
                        len(s.messages) for s in peer.sessions) < 5:
                    time.sleep(0.1)
                received = [m for s in peer.sessions for m in s.messages]
                by_subject: dict[bytes, list[Any]] = {}
                for m in received:
                    by_subject.setdefault(header(m.content, b"Subject")[0], []).append(m)
                assert {k: len(v) for k, v in by_subject.items()} == {
                    b"bulk": 2, b"plain": 1, b"asked": 1, b"own": 1}, server.log_text()[-3000:]

                # Bulk: one transaction per recipient, each with its own links, signed.
                records = json.loads(postoffice("domain", "dns", "example.test", "--json",
                                                data=server.data).stdout)
                zone = {r["name"] + ".": r["value"].encode() for r in records
                        if r["type"] == "TXT"}

                def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
                    return zone.get(name.decode(), b"")

                links = {}
                for m in by_subject[b"bulk"]:
                    assert len(m.recipients) == 1
                    found = LINKS.search(m.content)
                    assert found is not None, m.content[:2000]
                    links[m.recipients[0]] = (found.group(1).decode(), found.group(2).decode())
                    assert header(m.content, b"List-Unsubscribe-Post") == [
                        b"List-Unsubscribe=One-Click"]
                    for signature in header(m.content, b"DKIM-Signature"):
                        signed = re.search(rb"h=([^;]+)", signature.replace(b" ", b""))
                        assert signed is not None
                        names = signed.group(1).lower().split(b":")
                        assert b"list-unsubscribe" in names
                        assert b"list-unsubscribe-post" in names
                    verifier = dkim.DKIM(m.content)
                    assert verifier.verify(idx=0, dnsfunc=dnsfunc)
                    assert verifier.verify(idx=1, dnsfunc=dnsfunc)
                assert set(links) == {"ann@far.example", "bob@far.example"}
                assert links["ann@far.example"] != links["bob@far.example"]
                url, mailto = links["ann@far.example"]
                assert mailto.startswith("unsubscribe+") and mailto.endswith("@example.test")
                assert url.startswith("https://") and "/u/" in url

                # Transactional: none, all recipients in one transaction; unless asked.
                plain = by_subject[b"plain"][0]
                assert len(plain.recipients) == 2
                assert header(plain.content, b"List-Unsubscribe") == []
                assert LINKS.search(by_subject[b"asked"][0].content) is not None
                # The sender's own List-Unsubscribe stays, alone.
                own = by_subject[b"own"][0]
                assert len(own.recipients) == 2
                assert header(own.content, b"List-Unsubscribe") == [
                    b"<mailto:leave@example.test>"]
                assert header(own.content, b"List-Unsubscribe-Post") == []

                # Ann unsubscribes by mail through the MX; a forged address is unknown.
                with server.mx() as mx:
                    mx.ehlo("mx.far.example")
                    mx.mail("ann@far.example")
                    local, domain = mailto.split("@")
                    forged = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
                    assert mx.rcpt(forged)[0] == 550
                    assert mx.rcpt(mailto)[0] == 250
                    code, _ = mx.data(b"Subject: unsubscribe\r\n\r\nunsubscribe\r\n")
                    assert code == 250
                # Bob by the one-click POST (the http listener; HTTPS is a proxy's job).
                path = links["bob@far.example"][0].split("/", 3)[3]
                answer = client.post("/" + path, content=b"List-Unsubscribe=One-Click",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
                assert answer.status_code == 200, answer.text

                out = postoffice("suppress", "ls", "--tenant", "default", "--json",
                                 data=server.data)
                listed = {s["address"]: s for s in json.loads(out.stdout)}
                assert {a: (s["reason"], s["category"]) for a, s in listed.items()} == {
                    "ann@far.example": ("unsubscribe", "news"),
                    "bob@far.example": ("unsubscribe", "news")}
                events = client.get(f"/v1/messages/{bulk['id']}").json()["events"]
                assert sorted((e["recipient"], e["detail"]) for e in events
                              if e["type"] == "unsubscribed") == [
                    ("ann@far.example", "mailto"), ("bob@far.example", "one-click")]
                # The unsubscribe mail itself is in no mailbox.
                assert json.loads(postoffice("mailbox", "ls", "postmaster@example.test",
                                             "--json", data=server.data).stdout) == []
                later = send("later", ["ann@far.example", "bob@far.example", "cy@far.example"],
                             lane="bulk")
                assert [r["status"] for r in later["recipients"]] == [
                    "suppressed", "suppressed", "queued"]
