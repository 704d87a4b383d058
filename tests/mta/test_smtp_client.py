"""The asyncio SMTP client (`postoffice.mta.smtp_client.SmtpClient`) against real sockets:
the scripted peer for every failure mode, our own `postoffice serve`, Postfix's smtp-sink
(PIPELINING) and a private Postfix smtpd (STARTTLS, CHUNKING)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from postoffice.message.envelope import Envelope, Recipient
from postoffice.mta.smtp_client import SmtpClient, Timeouts, TransactionResult
from postoffice.proto.smtp.reply import Reply
from postoffice.testing import peers
from postoffice.testing.scripted_smtp import ALL_EXTENSIONS, Script, ScriptedSmtp
from postoffice.testing.server import ServerProcess, postoffice

T = TypeVar("T")
QUICK = Timeouts.uniform(5.0)
MESSAGE = b"From: a@sender.test\r\nTo: b@dest.test\r\nSubject: hello\r\n\r\nHi there\r\n"


def go(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(params=["asyncio", "uvloop"])
def run_on(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, T]], T]:
    """Run a coroutine on the default loop and on uvloop (what `postoffice serve` uses)."""
    if request.param == "asyncio":
        return asyncio.run
    uvloop = pytest.importorskip("uvloop")
    return uvloop.run  # type: ignore[no-any-return]


def env(*recipients: str | Recipient, sender: str = "a@sender.test", **kw: Any) -> Envelope:
    rcpts = tuple(Recipient(r) if isinstance(r, str) else r for r in recipients)
    return Envelope(sender, rcpts, **kw)


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedSmtp]]:
    """Start scripted peers (`scripted(Script(...))`); all are stopped after the test."""
    started: list[ScriptedSmtp] = []

    def start(script: Script | None = None, **kw: Any) -> ScriptedSmtp:
        peer = ScriptedSmtp(script, **kw).start()
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()


async def send_one(
    address: tuple[str, int], envelope: Envelope, content: Any = MESSAGE, **kw: Any
) -> tuple[TransactionResult, SmtpClient]:
    kw.setdefault("helo_name", "out.postoffice.test")
    kw.setdefault("timeouts", QUICK)
    client = await SmtpClient.connect(*address, **kw)
    result = await client.send(envelope, content)
    await client.quit()
    return result, client


def kinds(result: TransactionResult) -> list[str]:
    return [o.kind for o in result.outcomes]


# -- the happy paths ---------------------------------------------------------------------------


def test_delivers_over_starttls_with_bdat_and_reports_the_session(
    scripted: Any, run_on: Any
) -> None:
    peer = scripted(Script(starttls=True))
    content = MESSAGE.replace(b"Hi there", b"caf\xc3\xa9\n.line with dot")

    async def main() -> tuple[TransactionResult, SmtpClient, dict[str, Any]]:
        client = await SmtpClient.connect(*peer.address, helo_name="out.postoffice.test",
                                          timeouts=QUICK)
        seen = {
            "usable": client.usable,
            "tls": (client.tls_active, client.tls_version, bool(client.tls_cipher)),
            "ext": client.extensions,
            "local": client.local_address,
            "peer": client.peer_address,
        }
        result = await client.send(env("b@dest.test"), content)
        await client.quit()
        return result, client, seen

    result, client, seen = run_on(main())
    assert result.all_delivered and result.outcomes[0].reply.text.startswith("Ok: queued as")
    assert seen["usable"] and seen["tls"] == (True, "TLSv1.3", True)
    assert seen["ext"].chunking and seen["ext"].pipelining and not seen["ext"].starttls
    assert seen["peer"] == peer.address and seen["local"][0] == "127.0.0.1"
    assert client.failure is None and not client.usable  # after QUIT
    (session,) = peer.wait_sessions(1)
    assert session.tls_version == "TLSv1.3" and session.ended == "quit"
    (received,) = session.messages
    assert received.via == "BDAT" and received.recipients == ("b@dest.test",)
    assert received.content == content.replace(b"\n.line", b"\r\n.line")
    assert received.mail_params == {"SIZE": str(len(content)), "BODY": "8BITMIME"}
    assert session.commands[:4] == ["EHLO out.postoffice.test", "STARTTLS", "RESET",
                                    "EHLO out.postoffice.test"]


def test_data_when_chunking_is_off_or_not_offered(scripted: Any) -> None:
    peer = scripted(scripts=[Script(), Script(offer=ALL_EXTENSIONS - {"CHUNKING", "PIPELINING"})])
    first, _ = go(send_one(peer.address, env("b@dest.test"), chunking=False))
    second, _ = go(send_one(peer.address, env("b@dest.test")))
    assert first.all_delivered and second.all_delivered
    assert [m.via for m in peer.messages] == ["DATA", "DATA"]
    assert [m.content for m in peer.messages] == [MESSAGE, MESSAGE]


def test_connection_reuse_several_messages_and_rset_after_a_refusal(scripted: Any) -> None:
    peer = scripted(Script(rcpt={"gone@dest.test": Reply(550, "5.1.1", "No such user")}))

    async def main() -> list[TransactionResult]:
        client = await SmtpClient.connect(*peer.address, helo_name="out.test", timeouts=QUICK)
        results = []
        for rcpt in ("b@dest.test", "gone@dest.test", "c@dest.test", "d@dest.test"):
            results.append(await client.send(env(rcpt), MESSAGE))
        assert client.messages == 4 and client.usable
        await client.quit()
        return results

    results = go(main())
    assert [kinds(r) for r in results] == [["delivered"], ["failed"], ["delivered"], ["delivered"]]
    (session,) = peer.wait_sessions(1)
    assert [m.recipients for m in session.messages] == [("b@dest.test",), ("c@dest.test",),
                                                         ("d@dest.test",)]
    assert session.commands.count("RESET") == 1  # only after the refused transaction


def test_fifty_recipients_48_delivered_1_deferred_1_failed(scripted: Any) -> None:
    rcpts = [f"user{i}@dest.test" for i in range(50)]
    peer = scripted(Script(rcpt={
        "user10@dest.test": Reply(452, "4.2.2", "Mailbox full"),
        "user40@dest.test": Reply(550, "5.1.1", "No such user"),
    }))
    result, _ = go(send_one(peer.address, env(*rcpts)))
    assert (len(result.delivered), len(result.deferred), len(result.failed)) == (48, 1, 1)
    assert result.outcome("user10@dest.test").status == "4.2.2"
    assert result.outcome("user40@dest.test").reason == "recipient refused: 550 5.1.1 No such user"
    (message,) = peer.messages
    assert len(message.recipients) == 48


@pytest.mark.parametrize("source", ["127.0.0.2", "127.0.0.3"])
def test_source_address_binding(scripted: Any, source: str) -> None:
    peer = scripted()
    result, client = go(send_one(peer.address, env("b@dest.test"), source_address=source))
    assert result.all_delivered and client.local_address is not None
    assert client.local_address[0] == source
    assert peer.wait_sessions(1)[0].peer[0] == source


def test_dsn_parameters_are_passed_on(scripted: Any) -> None:
    peer = scripted()
    # an ORCPT stored with a raw "+" (not valid xtext) is re-encoded rather than refused
    rcpt = Recipient("b@dest.test", notify=("FAILURE", "DELAY"), orcpt="rfc822;b+x@dest.test")
    result, _ = go(send_one(peer.address, env(rcpt, ret="HDRS", envid="q1.42")))
    assert result.all_delivered
    (message,) = peer.messages
    assert message.mail_params["RET"] == "HDRS" and message.mail_params["ENVID"] == "q1.42"
    assert message.rcpt_params == ({"NOTIFY": "FAILURE,DELAY", "ORCPT": "rfc822;b+2Bx@dest.test"},)


def test_helo_fallback(scripted: Any) -> None:
    peer = scripted(Script(ehlo=Reply(502, "5.5.1", "Command not implemented")))
    result, client = go(send_one(peer.address, env("b@dest.test"), tls="opportunistic"))
    assert result.all_delivered and not client.extensions.esmtp
    commands = peer.wait_sessions(1)[0].commands
    assert commands[:3] == ["EHLO out.postoffice.test", "HELO out.postoffice.test",
                            "MAIL FROM:<a@sender.test>"]


def test_async_iterator_content(scripted: Any) -> None:
    peer = scripted()

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(100):
            yield b"line %d\n" % i

    result, _ = go(send_one(peer.address, env("b@dest.test"), chunks(), chunk_size=64))
    assert result.all_delivered
    assert peer.messages[0].content == b"".join(b"line %d\r\n" % i for i in range(100))


def test_smtputf8_needed_but_not_offered_then_the_session_goes_on(scripted: Any) -> None:
    peer = scripted(Script(offer=ALL_EXTENSIONS - {"SMTPUTF8"}))

    async def main() -> list[TransactionResult]:
        client = await SmtpClient.connect(*peer.address, helo_name="out.test", timeouts=QUICK)
        utf8 = await client.send(env("jörg@dest.test"), MESSAGE)
        ascii_ = await client.send(env("b@dest.test"), MESSAGE)
        await client.quit()
        return [utf8, ascii_]

    utf8, ascii_ = go(main())
    assert kinds(utf8) == ["failed"] and utf8.outcomes[0].status == "5.6.7"
    assert "peer lacks SMTPUTF8" in utf8.outcomes[0].reason
    assert ascii_.all_delivered


def test_smtputf8_when_offered(scripted: Any) -> None:
    peer = scripted()
    result, _ = go(send_one(peer.address, env("jörg@dest.test")))
    assert result.all_delivered and "SMTPUTF8" in peer.messages[0].mail_params


def test_auth_on_a_smarthost(scripted: Any) -> None:
    peer = scripted(Script(starttls=True, users={"relay": "s3cret"}))
    good, client = go(send_one(peer.address, env("b@dest.test"), auth=("relay", "s3cret"),
                               tls="required"))
    assert good.all_delivered and client.authenticated
    bad, client = go(send_one(peer.address, env("b@dest.test"), auth=("relay", "wrong"),
                              tls="required"))
    assert kinds(bad) == ["deferred"] and bad.outcomes[0].stage == "auth"
    assert client.failure is not None and client.failure.reply.code == 535
    sessions = peer.wait_sessions(2)
    assert sessions[0].auth_user == "relay" and sessions[1].auth_user is None


# -- failures are outcomes, never exceptions -----------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused() -> None:
    result, client = go(send_one(("127.0.0.1", closed_port()), env("b@dest.test", "c@dest.test")))
    assert kinds(result) == ["deferred", "deferred"]
    outcome = result.outcomes[0]
    assert (outcome.status, outcome.stage, outcome.remote) == ("4.4.1", "connect", False)
    assert "Connection refused" in outcome.reason
    assert client.failure is not None and not client.usable


def test_connect_timeout() -> None:
    """A listener whose accept queue is full drops SYNs: connect() hangs until our timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        fillers = []
        try:
            for _ in range(3):
                filler = socket.socket()
                fillers.append(filler)
                filler.setblocking(False)
                try:
                    filler.connect(listener.getsockname())
                except BlockingIOError:
                    pass
            start = time.monotonic()
            result, client = go(send_one(listener.getsockname(), env("b@dest.test"),
                                         timeouts=Timeouts(connect=0.3)))
            assert time.monotonic() - start < 2.0
        finally:
            for filler in fillers:
                filler.close()
    outcome = result.outcomes[0]
    assert (outcome.kind, outcome.status, outcome.stage) == ("deferred", "4.4.1", "connect")
    assert outcome.reason.endswith("failed: timed out")


def test_tls_required_but_not_offered(scripted: Any) -> None:
    peer = scripted()
    result, client = go(send_one(peer.address, env("b@dest.test"), tls="required"))
    assert kinds(result) == ["deferred"] and result.outcomes[0].status == "4.7.10"
    assert result.outcomes[0].reason == "TLS required but STARTTLS not offered by the peer"
    assert peer.wait_sessions(1)[0].commands == ["EHLO out.postoffice.test", "CLOSED quit"]
    assert peer.messages == []


def test_tls_verify(scripted: Any, run_on: Any) -> None:
    peer = scripted(Script(starttls=True))
    good, client = run_on(send_one(peer.address, env("b@dest.test"), tls="verify",
                               cafile=peer.cafile, tls_server_name="mx.scripted.test"))
    assert good.all_delivered and client.tls_active
    wrong_name, _ = go(send_one(peer.address, env("b@dest.test"), tls="verify",
                                cafile=peer.cafile, tls_server_name="other.test"))
    untrusted, _ = go(send_one(peer.address, env("b@dest.test"), tls="verify"))
    for result in (wrong_name, untrusted):
        outcome = result.outcomes[0]
        assert (outcome.kind, outcome.status, outcome.stage) == ("deferred", "4.7.5", "tls")
        assert outcome.reason.startswith("TLS certificate verification failed")
    assert len(peer.messages) == 1


def test_failed_handshake_defers_unless_plaintext_fallback_is_configured(scripted: Any) -> None:
    import ssl

    peer = scripted(Script(starttls=True))
    old = ssl.create_default_context()
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    old.set_ciphers("PSK")  # nothing the peer can agree to: the handshake fails
    deferred, _ = go(send_one(peer.address, env("b@dest.test"), ssl_context=old))
    assert kinds(deferred) == ["deferred"] and deferred.outcomes[0].status == "4.7.5"
    assert deferred.outcomes[0].reason.startswith("TLS handshake failed")
    fallback, client = go(send_one(peer.address, env("b@dest.test"), ssl_context=old,
                                   tls_fallback_plaintext=True))
    assert fallback.all_delivered and not client.tls_active
    assert client.tls_failure is not None and client.tls_failure.startswith("TLS handshake failed")
    assert len(peer.messages) == 1


def test_greylisting_defers_then_delivers(scripted: Any) -> None:
    peer = scripted(Script(greylist=True))
    first, _ = go(send_one(peer.address, env("b@dest.test")))
    again, _ = go(send_one(peer.address, env("b@dest.test")))
    assert kinds(first) == ["deferred"] and first.outcomes[0].status == "4.7.1"
    assert again.all_delivered and len(peer.messages) == 1


@pytest.mark.parametrize(
    ("step", "stage"),
    [("greeting", "greeting"), ("EHLO", "ehlo"), ("MAIL", "mail"), ("RCPT", "rcpt"),
     ("DATA", "data"), ("content", "final"), ("FINAL", "final")],
)
def test_peer_drops_the_connection(scripted: Any, step: str, stage: str, run_on: Any) -> None:
    peer = scripted(Script(drop=step, offer=ALL_EXTENSIONS - {"CHUNKING"}))
    result, client = run_on(send_one(peer.address, env("b@dest.test", "c@dest.test"),
                                     MESSAGE * 200))
    assert kinds(result) == ["deferred", "deferred"]
    outcome = result.outcomes[0]
    assert (outcome.status, outcome.stage, outcome.remote) == ("4.4.2", stage, False)
    assert outcome.reason.endswith(f"(during {stage})")
    assert peer.messages == [] and client.failure is not None


def test_slow_peer_hits_the_final_dot_timeout(scripted: Any, run_on: Any) -> None:
    peer = scripted(Script(delay={"FINAL": 3.0}))
    timeouts = Timeouts(connect=5, greeting=5, command=5, data_block=5, final_dot=0.3)
    start = time.monotonic()
    result, _ = run_on(send_one(peer.address, env("b@dest.test"), timeouts=timeouts))
    assert time.monotonic() - start < 2.0
    outcome = result.outcomes[0]
    assert (outcome.kind, outcome.status, outcome.stage) == ("deferred", "4.4.2", "final")
    assert outcome.reason == "timeout after 0.3s waiting for the reply to the end of the content"


def test_slow_greeting_hits_the_greeting_timeout(scripted: Any) -> None:
    peer = scripted(Script(delay={"greeting": 3.0}))
    timeouts = Timeouts(connect=5, greeting=0.2, command=5, data_block=5, final_dot=5)
    result, client = go(send_one(peer.address, env("b@dest.test"), timeouts=timeouts))
    assert result.outcomes[0].status == "4.4.2" and result.outcomes[0].stage == "greeting"
    assert client.failure is not None


def test_temporary_and_permanent_replies(scripted: Any) -> None:
    peer = scripted(scripts=[
        Script(mail={"a@sender.test": Reply(451, "4.3.0", "Try again later")}),
        Script(final=Reply(554, "5.7.1", "Message rejected as spam")),
        Script(greeting=Reply(554, "5.3.2", "No SMTP service here")),
        Script(greeting=Reply(421, "4.3.2", "Too busy")),
    ])
    results = [go(send_one(peer.address, env("b@dest.test", "c@dest.test")))[0] for _ in range(4)]
    assert [kinds(r) for r in results] == [["deferred"] * 2, ["failed"] * 2, ["failed"] * 2,
                                           ["deferred"] * 2]
    assert [r.outcomes[0].stage for r in results] == ["mail", "final", "greeting", "greeting"]


def test_failing_content_iterator_never_sends_a_partial_message(scripted: Any) -> None:
    peer = scripted()

    async def broken() -> AsyncIterator[bytes]:
        yield b"Subject: partial\r\n\r\n"
        raise OSError("spool file vanished")

    result, _ = go(send_one(peer.address, env("b@dest.test"), broken()))
    outcome = result.outcomes[0]
    assert (outcome.kind, outcome.status) == ("deferred", "4.3.0")
    assert "spool file vanished" in outcome.reason
    assert peer.wait_sessions(1)[0].messages == []


def test_peer_closing_an_idle_connection(scripted: Any) -> None:
    peer = scripted()

    async def main() -> tuple[TransactionResult, TransactionResult]:
        client = await SmtpClient.connect(*peer.address, helo_name="out.test", timeouts=QUICK)
        first = await client.send(env("b@dest.test"), MESSAGE)
        await asyncio.get_running_loop().run_in_executor(None, peer.stop)
        await asyncio.sleep(0.05)
        second = await client.send(env("c@dest.test"), MESSAGE)
        await client.quit()
        return first, second

    first, second = go(main())
    assert first.all_delivered and kinds(second) == ["deferred"]
    assert second.outcomes[0].status == "4.4.2"


# -- our own server: STARTTLS and AUTH on the submission port -----------------------------------

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("served") / "data")
    with server:
        server.add_user("bob@example.test", PASSWORD)
        server.add_user("alice@example.test", PASSWORD)
        server.start()
        yield server


def test_submission_to_our_own_server_over_starttls_with_auth(served: ServerProcess) -> None:
    host, port = served.address("submission")
    cafile = str(served.data / "tls" / "cert.pem")
    content = MESSAGE.replace(b"a@sender.test", b"bob@example.test").replace(
        b"Subject: hello", b"Subject: via SmtpClient")

    async def main() -> tuple[list[TransactionResult], SmtpClient]:
        client = await SmtpClient.connect(host, port, helo_name="client.test", tls="verify",
                                          cafile=cafile, tls_server_name="localhost",
                                          auth=("bob@example.test", PASSWORD), timeouts=QUICK)
        results = [
            await client.send(env("alice@example.test", sender="bob@example.test"), content),
            await client.send(env("x@remote.example", sender="bob@example.test"), content),
            await client.send(env("alice@example.test", sender="mallory@evil.test"), content),
        ]
        await client.quit()
        return results, client

    (local, remote, forged), client = go(main())
    assert client.tls_version in ("TLSv1.2", "TLSv1.3") and client.authenticated
    assert local.all_delivered and remote.all_delivered
    assert kinds(forged) == ["failed"]  # our MSA refuses a sender bob may not use
    entries = json.loads(postoffice("mailbox", "ls", "alice@example.test", "--json",
                                    data=served.data).stdout)
    assert any(e["subject"] == "via SmtpClient" for e in entries)
    queued = json.loads(postoffice("queue", "ls", "--json", data=served.data).stdout)
    assert any(i["recipient"] == "x@remote.example" for i in queued)


def test_our_server_refuses_auth_before_tls(served: ServerProcess) -> None:
    host, port = served.address("submission")
    result, client = go(send_one((host, port), env("alice@example.test"), tls="none",
                                 auth=("bob@example.test", PASSWORD), auth_requires_tls=False))
    assert kinds(result) == ["deferred"] and result.outcomes[0].stage == "auth"


# -- Postfix smtp-sink: PIPELINING interop --------------------------------------------------------


@pytest.fixture
def smtp_sink() -> Iterator[tuple[tuple[str, int], Path]]:
    """smtp-sink on a free loopback port, dumping every transaction to a file."""
    binary = peers.require_peer("smtp-sink")
    workdir = Path(tempfile.mkdtemp(prefix="postoffice-sink-"))
    workdir.chmod(0o777)  # smtp-sink writes the dump as nobody
    dump = workdir / "dump"
    port = closed_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    proc = subprocess.Popen([binary, *user, "-D", str(dump), f"127.0.0.1:{port}", "64"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"smtp-sink did not start: {proc.stderr}") from None
                time.sleep(0.05)
        yield ("127.0.0.1", port), dump
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stderr is not None
        proc.stderr.close()
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()


@pytest.mark.peer
def test_smtp_sink_pipelining_many_messages_one_connection(smtp_sink: Any) -> None:
    address, dump = smtp_sink
    count, rcpts = 20, [f"r{i}@dest.test" for i in range(10)]

    async def main() -> tuple[list[TransactionResult], SmtpClient]:
        client = await SmtpClient.connect(*address, helo_name="out.test", timeouts=QUICK,
                                          source_address="127.0.0.2", tls="none")
        assert client.extensions.pipelining and not client.extensions.chunking
        results = []
        for i in range(count):
            body = MESSAGE.replace(b"hello", b"message %d" % i) + b".dot line\r\n" * i
            results.append(await client.send(env(*rcpts), body))
        await client.quit()
        return results, client

    results, client = go(main())
    assert all(r.all_delivered for r in results) and client.failure is None
    deadline = time.monotonic() + 5
    while dump.read_bytes().count(b"X-Mail-Args:") < count and time.monotonic() < deadline:
        time.sleep(0.05)
    text = dump.read_bytes()
    assert text.count(b"X-Mail-Args:") == count
    assert text.count(b"X-Rcpt-Args:") == count * len(rcpts)
    assert text.count(b"X-Client-Addr: 127.0.0.2") == count
    assert b"Subject: message 19" in text and b"\n.dot line\n" in text  # unstuffed by the sink


# -- a private Postfix smtpd: STARTTLS and CHUNKING ------------------------------------------------


@pytest.mark.peer
def test_postfix_smtpd_over_starttls_with_chunking(tmp_path: Path) -> None:
    from postoffice.server.tls import generate_self_signed
    from postoffice.testing.postfix import POSTFIX, PostfixInstance

    peers.require_peer("postfix", POSTFIX)
    peers.require_root("Postfix only starts as root")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    generate_self_signed("postfix-peer.localdomain", cert, key)
    main_cf = {
        "smtpd_tls_security_level": "may",
        "smtpd_tls_cert_file": str(cert),
        "smtpd_tls_key_file": str(key),
        "smtpd_tls_loglevel": "1",
    }
    with PostfixInstance(hold=True, main_cf=main_cf) as postfix:

        async def main() -> tuple[list[TransactionResult], SmtpClient]:
            client = await SmtpClient.connect(*postfix.address, helo_name="out.test",
                                              tls="verify", cafile=str(cert),
                                              tls_server_name="postfix-peer.localdomain",
                                              timeouts=QUICK, chunk_size=4096)
            assert client.extensions.chunking and client.extensions.pipelining
            big = MESSAGE + b"x" * 70 + b"\r\n.starts with a dot\r\n" * 1000
            results = [await client.send(env("b@dest.test", "c@dest.test"), MESSAGE),
                       await client.send(env("d@dest.test"), big)]
            await client.quit()
            return results, client

        results, client = go(main())
        assert all(r.all_delivered for r in results), [r.reply for r in results]
        assert client.tls_active
        assert postfix.wait_for_queue_count("hold", 2, timeout=10) == 2
        assert postfix.wait_for_log("TLS connection established", timeout=5)
        held = sorted(p for p in (postfix.queue_dir / "hold").rglob("*") if p.is_file())
        bodies = [subprocess.run(["/usr/sbin/postcat", "-c", str(postfix.config_dir), "-bh", str(p)], capture_output=True,
                                 check=True).stdout for p in held]
        assert sorted(b.count(b"\n.starts with a dot\n") for b in bodies) == [0, 1000]
