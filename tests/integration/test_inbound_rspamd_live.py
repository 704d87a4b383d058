"""The MX asks a real Rspamd and adds its score: GTUBE is refused, a plain message is not."""

import smtplib
from collections.abc import Iterator

import pytest

from postoffice.testing import peers
from postoffice.testing.dns import KNOTD, AuthoritativeDns
from postoffice.testing.rspamd import Rspamd
from postoffice.testing.server import ServerProcess

pytestmark = pytest.mark.peer
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
PLAIN = ("From: Alice <alice@sender.example>\r\nTo: bob@example.test\r\nSubject: Lunch\r\n"
         "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@sender.example>\r\n\r\n"
         "Hi Bob, lunch at noon tomorrow?\r\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    peers.require_peer("knotd", KNOTD, package="knot")
    zone = {"@": [{"TXT": "v=spf1 ip4:127.0.0.1 -all"}]}
    with Rspamd() as rspamd, AuthoritativeDns({"sender.example": zone}) as dns:
        s = ServerProcess(tmp_path_factory.mktemp("rspamd") / "data", config={
            "dns": {"nameservers": [dns.nameserver]},
            "inbound": {"skip_networks": [], "rspamd_url": rspamd.url},
        })
        with s:
            s.add_user("bob@example.test", "pw-rspamd-1")
            s.start()
            yield s


def send(server: ServerProcess, content: str) -> tuple[int, bytes]:
    with server.mx() as client:
        try:
            client.sendmail("alice@sender.example", ["bob@example.test"], content.encode())
        except smtplib.SMTPDataError as exc:
            return exc.smtp_code, exc.smtp_error
    return 250, b""


def test_gtube_is_refused_by_rspamds_score(server: ServerProcess) -> None:
    code, text = send(server, PLAIN.replace("Hi Bob, lunch at noon tomorrow?", GTUBE))
    assert code == 550 and b"5.7.1" in text and b"spam" in text


def test_a_plain_message_is_accepted(server: ServerProcess) -> None:
    assert send(server, PLAIN)[0] == 250
