"""The http listener serves the MTA-STS policy of local domains (Host mta-sts.<domain>)."""

import http.client
from pathlib import Path

from postoffice.testing.server import ServerProcess


def get(server: ServerProcess, host: str, method: str = "GET") -> tuple[int, str, bytes]:
    address, port = server.address("http")
    conn = http.client.HTTPConnection(address, port, timeout=10)
    conn.request(method, "/.well-known/mta-sts.txt", headers={"Host": host})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, response.getheader("Content-Type") or "", body


def test_policy_is_served_for_local_domains_only(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data", config={"publish": {"mta_sts_mode": "enforce"}}) as server:
        server.start()
        status, kind, body = get(server, "mta-sts.example.test")
        assert (status, kind) == (200, "text/plain")
        assert body == b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 604800\r\n"
        assert get(server, "MTA-STS.Example.Test:443")[0] == 200  # case and port do not matter
        assert get(server, "mta-sts.example.test", "HEAD")[:2] == (200, "text/plain")
        assert get(server, "mta-sts.other.example")[0] == 404
        assert get(server, "example.test")[0] == 404
        assert get(server, "")[0] == 404
