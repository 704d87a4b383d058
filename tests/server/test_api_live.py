"""The HTTP API on a real `postoffice serve` over a socket: a key made with the CLI sends a
message that the smarthost receives, DKIM-signed, and its timeline shows the delivery."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from postoffice.testing.scripted_smtp import Script, ScriptedSmtp
from postoffice.testing.server import ServerProcess, postoffice


def test_send_through_the_api(tmp_path: Path) -> None:
    with ScriptedSmtp(Script()) as peer:
        host, port = peer.address
        server = ServerProcess(tmp_path / "data", config={"delivery": {"smarthost": f"{host}:{port}"}})
        with server:
            created = postoffice("apikey", "create", "--tenant", "default", "--scope", "admin",
                                 "--json", data=server.data)
            key = json.loads(created.stdout)["key"]
            server.start()
            address, http_port = server.address("http")
            base = f"http://{address}:{http_port}"
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
                sent = client.post("/v1/messages", json={
                    "from": "Shop <shop@example.test>", "to": ["ann@far.example"],
                    "subject": "Über API", "text": "Grüße", "html": "<p>Grüße</p>"})
                assert sent.status_code == 202, sent.text
                message_id = sent.json()["id"]
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and not any(s.messages for s in peer.sessions):
                    time.sleep(0.1)
                received = [m for s in peer.sessions for m in s.messages]
                assert len(received) == 1, server.log_text()[-3000:]
                assert received[0].recipients == ("ann@far.example",)
                assert b"DKIM-Signature:" in received[0].content
                assert b"Subject: =?utf-8?" in received[0].content
                deadline = time.monotonic() + 10
                events: list[dict[str, str]] = []
                while time.monotonic() < deadline:
                    events = client.get(f"/v1/messages/{message_id}").json()["events"]
                    if any(e["type"] == "delivered" for e in events):
                        break
                    time.sleep(0.1)
                delivered = [e for e in events if e["type"] == "delivered"]
                assert delivered and delivered[0]["mx"] == host, events
                assert delivered[0]["detail"].startswith("250")
                # what signed it, the moment before (both of the domain's keys)
                types = [e["type"] for e in events]
                assert types.index("signed") == types.index("delivered") - 1, types
                signed = events[types.index("signed")]["detail"]
                assert "d=example.test" in signed and "a=rsa-sha256" in signed, signed
                assert "a=ed25519-sha256" in signed, signed
                assert client.get("/healthz").json()["status"] == "ok"
                spec = client.get("/v1/openapi.json").json()
                assert spec["info"]["title"] == "postoffice"
