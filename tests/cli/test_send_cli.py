"""`postoffice send`, run in process against a real `postoffice serve`: the API address from the
data directory, the key from the environment, the output lines and one-line errors."""

from __future__ import annotations

import argparse
import io
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from postoffice.cli.main import main
from postoffice.cli.send import api_url
from postoffice.client import Client
from postoffice.testing.api_server import serving_api
from postoffice.testing.scripted_smtp import Received, ScriptedSmtp
from postoffice.testing.server import ServerProcess


@dataclass
class Served:
    server: ServerProcess
    peer: ScriptedSmtp
    base: str
    key: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving_api(tmp_path_factory.mktemp("send") / "data") as api:
        yield Served(api.server, api.peer, api.base + "", api.key)


@pytest.fixture
def keyed(served: Served, monkeypatch: pytest.MonkeyPatch) -> Served:
    monkeypatch.setenv("POSTOFFICE_API_KEY", served.key)
    return served


def run(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    code = main(["send", *args, "--data", str(data)])
    out, err = capsys.readouterr()
    return code, out, err


def arrived(peer: ScriptedSmtp, marker: bytes, timeout: float = 20.0) -> Received:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in peer.messages if marker in m.content]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no message with {marker!r} reached the smarthost")


def test_send_with_files_headers_and_metadata(keyed: Served, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "body.txt").write_text("Grüße from a file\n")
    (tmp_path / "body.html").write_text("<p>Grüße</p>\n")
    (tmp_path / "invoice.pdf").write_bytes(b"%PDF-1.4 not really\n")
    code, out, err = run(
        capsys, keyed.server.data, "--from", "Shop <shop@example.test>",
        "--to", "ann@far.example", "--to", "bob@far.example", "--bcc", "audit@far.example",
        "--subject", "Invoice 7", "--text-file", str(tmp_path / "body.txt"),
        "--html-file", str(tmp_path / "body.html"), "--attach", str(tmp_path / "invoice.pdf"),
        "--header", "X-Invoice: 7", "--category", "invoices", "--lane", "transactional",
        "--metadata", "invoice=7", "--metadata", "customer=a=b")
    assert (code, err) == (0, "")
    words = out.split()
    assert out == f"queued {words[1]} to 3 recipient(s)\n"
    message = arrived(keyed.peer, b"X-Invoice: 7")
    assert sorted(message.recipients) == ["ann@far.example", "audit@far.example",
                                          "bob@far.example"]
    assert b'filename="invoice.pdf"' in message.content
    assert b"application/pdf" in message.content and b"text/html" in message.content
    logged = Client(keyed.base, keyed.key).message(words[1])
    assert logged["metadata"] == {"invoice": "7", "customer": "a=b"}
    assert (logged["subject"], logged["category"]) == ("Invoice 7", "invoices")


def test_json_output_and_raw_from_stdin(served: Served, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("POSTOFFICE_API_KEY", raising=False)
    raw = b"From: shop@example.test\r\nTo: raw@far.example\r\nSubject: From stdin\r\n\r\nhi\r\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw)))
    code, out, err = run(capsys, served.server.data, "--raw", "-", "--api", served.base + "/",
                         "--key", served.key, "--json")
    assert (code, err) == (0, "")
    answer = json.loads(out)
    assert set(answer) == {"id", "message_id", "recipients"}
    assert answer["recipients"] == [{"address": "raw@far.example", "status": "queued"}]
    assert arrived(served.peer, b"Subject: From stdin").recipients == ("raw@far.example",)


def test_missing_key(served: Served, monkeypatch: pytest.MonkeyPatch,
                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("POSTOFFICE_API_KEY", raising=False)
    code, out, err = run(capsys, served.server.data, "--from", "shop@example.test",
                         "--to", "x@far.example", "--text", "hi")
    assert (code, out) == (1, "")
    assert err == ("postoffice: error: no API key: pass --key or set POSTOFFICE_API_KEY "
                   "(make one with `postoffice apikey create`)\n")


def test_api_errors_are_one_line(keyed: Served, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, keyed.server.data, "--from", "me@elsewhere.example",
                         "--to", "x@far.example", "--text", "hi")
    assert (code, out) == (1, "")
    assert err == ("postoffice: error: sender_not_allowed: elsewhere.example is not a sending "
                   "domain of this tenant (field from)\n")
    code, _, err = run(capsys, keyed.server.data, "--from", "shop@example.test",
                       "--to", "x@far.example", "--subject", "a\r\nBcc: y@far.example")
    assert code == 1 and err.startswith("postoffice: error: invalid: ")
    assert err.endswith(" (field subject)\n") and err.count("\n") == 1
    code, _, err = run(capsys, keyed.server.data, "--from", "shop@example.test",
                       "--to", "x@far.example", "--text", "hi", "--key", "po_bad")
    assert (code, err) == (1, "postoffice: error: unauthorized: malformed API key\n")


def test_usage_errors(keyed: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = keyed.server.data
    cases = [
        (("--to", "usage@far.example", "--text", "hi"),
         "--from is required (or --raw FILE for a whole message)"),
        (("--from", "shop@example.test", "--text", "hi"),
         "--to is required (at least one --to, --cc or --bcc)"),
        (("--raw", "-", "--subject", "x"), "--subject cannot be used with --raw"),
        (("--from", "shop@example.test", "--to", "usage@far.example", "--metadata", "novalue"),
         "--metadata 'novalue': expected KEY=VALUE"),
        (("--from", "shop@example.test", "--to", "usage@far.example", "--header", "X-A 1"),
         "--header 'X-A 1': expected \"Name: value\""),
        (("--from", "shop@example.test", "--to", "usage@far.example",
          "--attach", str(tmp_path / "missing.pdf")),
         f"--attach {tmp_path / 'missing.pdf'}: No such file or directory"),
    ]
    for args, message in cases:
        code, out, err = run(capsys, data, *args)
        assert (code, out, err) == (1, "", f"postoffice: error: {message}\n"), args
    client = Client(keyed.base, keyed.key)
    assert client.messages(recipient="usage@far.example")["messages"] == []


def test_connection_refused(keyed: Served, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = run(capsys, keyed.server.data, "--from", "shop@example.test",
                       "--to", "x@far.example", "--text", "hi",
                       "--api", f"http://127.0.0.1:{port}")
    assert code == 1
    assert err.startswith(f"postoffice: error: connection: cannot reach http://127.0.0.1:{port}/")


def test_api_address_from_the_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = argparse.Namespace(api=None, data=str(data))
    with pytest.raises(Exception, match="not a postoffice data directory"):
        api_url(args)
    data.mkdir()
    (data / "postoffice.toml").write_text('[listeners]\nhttp = "0.0.0.0:8080"\n')
    assert api_url(args) == "http://127.0.0.1:8080"
    (data / "run").mkdir()
    (data / "run" / "listeners.json").write_text(json.dumps(
        {"pid": 1, "listeners": {"http": {"host": "::", "port": 8443, "tls": "none"}}}))
    assert api_url(args) == "http://[::1]:8443"
    assert api_url(argparse.Namespace(api="https://mail.example.com/", data=None)) == \
        "https://mail.example.com"
