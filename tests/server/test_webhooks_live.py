"""Webhooks on a real `postoffice serve`: a message sent through the API reaches the smarthost
and its `delivered` event reaches a local HTTP receiver, signed, after one retry; and an
endpoint that never answers does not delay mail."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from postoffice.policy.webhooks import verify
from postoffice.testing.scripted_smtp import Script, ScriptedSmtp
from postoffice.testing.server import ServerProcess, postoffice


@dataclass
class Receiver:
    """What the local HTTP receiver got, and how it answers (statuses in turn, the last one
    repeating; "hang": read the request and never answer)."""

    statuses: list[Any]
    requests: list[tuple[float, dict[str, str], bytes]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def answer(self) -> Any:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


@contextmanager
def receiver(*statuses: Any) -> Iterator[Receiver]:
    got = Receiver(list(statuses))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.requests.append((time.monotonic(), dict(self.headers), body))
            status = got.answer()
            if status == "hang":
                got.release.wait(60)
                return
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    got.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/postoffice"
    try:
        yield got
    finally:
        got.release.set()
        server.shutdown()
        server.server_close()


def wait_for(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@contextmanager
def serving(tmp_path: Path, peer: ScriptedSmtp,
            **webhooks: object) -> Iterator[tuple[ServerProcess, httpx.Client]]:
    host, port = peer.address
    server = ServerProcess(tmp_path / "data", config={
        "delivery": {"smarthost": f"{host}:{port}"},
        "webhooks": {"allow_private": True, **webhooks}})
    with server:
        created = postoffice("apikey", "create", "--tenant", "default", "--scope", "admin",
                             "--json", data=server.data)
        key = json.loads(created.stdout)["key"]
        server.start()
        address, http_port = server.address("http")
        with httpx.Client(base_url=f"http://{address}:{http_port}", timeout=10,
                          headers={"Authorization": f"Bearer {key}"}) as client:
            yield server, client


def send(client: httpx.Client, subject: str) -> str:
    sent = client.post("/v1/messages", json={"from": "shop@example.test",
                                             "to": ["ann@far.example"], "subject": subject,
                                             "text": "hello"})
    assert sent.status_code == 202, sent.text
    return str(sent.json()["id"])


def test_delivered_event_reaches_the_webhook_signed_after_a_retry(tmp_path: Path) -> None:
    with ScriptedSmtp(Script()) as peer, receiver(500, 200) as hook, \
            serving(tmp_path, peer, first_retry=0.5) as (server, client):
        made = client.post("/v1/webhooks", json={"url": hook.url, "events": ["delivered"]})
        assert made.status_code == 201, made.text
        secret, hook_id = made.json()["secret"], made.json()["id"]
        message_id = send(client, "webhooks")
        assert wait_for(lambda: len(hook.requests) >= 2, 30), server.log_text()[-3000:]
        time.sleep(0.5)
        assert len(hook.requests) == 2  # delivered once: no more attempts
        (first_at, first_headers, first), (second_at, headers, body) = hook.requests
        assert body == first and second_at - first_at >= 0.5
        assert headers["X-Postoffice-Event"] == "delivered"
        assert headers["Content-Type"] == "application/json"
        assert verify(secret, headers["X-Postoffice-Signature"], body, now=time.time())
        document = json.loads(body)
        assert document["webhook_id"] == hook_id
        event = document["event"]
        assert (event["type"], event["message_id"], event["recipient"]) == (
            "delivered", message_id, "ann@far.example")
        assert event["mx"] == peer.address[0] and event["detail"].startswith("250")
        assert "tenant" not in event
        assert wait_for(lambda: client.get(f"/v1/webhooks/{hook_id}/deliveries").json()
                        ["deliveries"][0]["status"] == "delivered", 10)
        (delivery,) = client.get(f"/v1/webhooks/{hook_id}/deliveries").json()["deliveries"]
        assert delivery["id"] == document["id"]
        assert [a["status_code"] for a in delivery["attempts"]] == [500, 200]


def test_an_endpoint_that_never_answers_does_not_delay_mail(tmp_path: Path) -> None:
    with ScriptedSmtp(Script()) as peer, receiver("hang") as hook, \
            serving(tmp_path, peer, timeout=30.0, concurrency=2) as (server, client):
        made = client.post("/v1/webhooks", json={"url": hook.url, "events": ["*"]})
        assert made.status_code == 201, made.text
        send(client, "first")  # its events take the webhook's two request slots, for 30 s
        assert wait_for(lambda: len(hook.requests) >= 2, 20), server.log_text()[-3000:]
        started = time.monotonic()
        for n in range(5):
            send(client, f"message {n}")
        assert wait_for(lambda: sum(len(s.messages) for s in peer.sessions) == 6, 10), \
            server.log_text()[-3000:]
        assert time.monotonic() - started < 10
        assert len(hook.requests) == 2  # still hanging: nothing else was started
        path = f"/v1/webhooks/{made.json()['id']}/deliveries"
        # every event is still fanned out and waits for a free slot: 6 x accepted, queued,
        # signed, delivered
        assert wait_for(lambda: len(client.get(path).json()["deliveries"]) == 24, 10)
        deliveries = client.get(path).json()["deliveries"]
        assert {d["status"] for d in deliveries} == {"pending"}
        assert sum(len(d["attempts"]) for d in deliveries) == 0  # the two hanging: unfinished
