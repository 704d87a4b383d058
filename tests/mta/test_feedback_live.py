"""The feedback loop end to end: mail sent through the API to a sink MX that refuses one
recipient with 550 5.1.1 and takes the other; the refusal is a hard bounce, the address is
suppressed, and the next message to it does not reach the queue."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from postoffice.proto.smtp.reply import Reply
from postoffice.testing.scripted_smtp import Script, ScriptedSmtp
from postoffice.testing.server import ServerProcess, postoffice


def wait_events(client: httpx.Client, message_id: str, types: set[str],
                timeout: float = 20.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = client.get(f"/v1/messages/{message_id}").json()["events"]
        if types <= {e["type"] for e in events}:
            break
        time.sleep(0.1)
    return events


def test_a_refused_recipient_is_bounced_suppressed_and_left_out_next_time(
        tmp_path: Path) -> None:
    script = Script(rcpt={"gone@far.example": Reply(550, "5.1.1", "No such user here")})
    with ScriptedSmtp(script) as peer:
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
                sent = client.post("/v1/messages", json={
                    "from": "shop@example.test", "to": ["ann@far.example", "gone@far.example"],
                    "subject": "Your order", "text": "Thanks", "category": "orders"})
                assert sent.status_code == 202, sent.text
                first = sent.json()["id"]
                events = wait_events(client, first, {"delivered", "bounced"})
                by_type = {(e["type"], e["recipient"]): e for e in events}
                assert ("delivered", "ann@far.example") in by_type, events
                bounced = by_type[("bounced", "gone@far.example")]
                assert (bounced["reason"], bounced["bounce"]) == ("user_unknown", "hard")
                assert bounced["detail"].startswith("550 5.1.1")

                listed = client.get("/v1/suppressions").json()["suppressions"]
                assert [(s["address"], s["reason"], s["source_message"]) for s in listed] == [
                    ("gone@far.example", "hard_bounce", first)]

                again = client.post("/v1/messages", json={
                    "from": "shop@example.test", "to": ["gone@far.example", "ann@far.example"],
                    "subject": "Another order", "text": "Thanks"})
                assert again.status_code == 202, again.text
                assert again.json()["recipients"] == [
                    {"address": "gone@far.example", "status": "suppressed"},
                    {"address": "ann@far.example", "status": "queued"}]
                second = again.json()["id"]
                events = wait_events(client, second, {"delivered", "suppressed"})
                assert {(e["type"], e["recipient"]) for e in events} >= {
                    ("suppressed", "gone@far.example"), ("delivered", "ann@far.example")}
    to_peer = [(m.recipients, m.content) for s in peer.sessions for m in s.messages]
    assert all("gone@far.example" not in r for r, c in to_peer if b"Another order" in c)
