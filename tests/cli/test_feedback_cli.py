"""`postoffice feedback classify`: JSON shape, human-readable lines, stdin, errors."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from postoffice.cli.main import main

BOUNCE = b"""From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r
To: sender@example.org\r
Subject: Mail delivery failed: returning message to sender\r
\r
This message was created automatically by mail delivery software.\r
\r
A message that you sent could not be delivered to one or more of its\r
recipients. This is a permanent error. The following address(es) failed:\r
\r
  bob@example.com\r
    host mx.example.com [192.0.2.1]\r
    SMTP error from remote mail server after RCPT TO:<bob@example.com>:\r
    550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown\r
\r
------ This is a copy of the message, including all the headers. ------\r
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["feedback", "classify", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def bounce_file(tmp_path: Path) -> Path:
    path = tmp_path / "bounce.eml"
    path.write_bytes(BOUNCE.replace(b"\r\n", b"\r"))  # bare CR line ends
    return path


def test_json_shape(capsys: pytest.CaptureFixture[str], bounce_file: Path) -> None:
    code, out, _ = run(capsys, str(bounce_file), "--json")
    assert code == 0
    document = json.loads(out)
    assert list(document) == ["kind", "recipients"]
    assert document["kind"] == "bounce"
    (recipient,) = document["recipients"]
    assert list(recipient) == ["address", "status", "reply_code", "diagnostic", "reason", "hard"]
    assert recipient["address"] == "bob@example.com"
    assert (recipient["status"], recipient["reply_code"]) == ("5.1.1", 550)
    assert (recipient["reason"], recipient["hard"]) == ("user_unknown", True)
    assert "User unknown" in recipient["diagnostic"]


def test_human_lines(capsys: pytest.CaptureFixture[str], bounce_file: Path) -> None:
    code, out, _ = run(capsys, str(bounce_file))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "kind: bounce"
    assert lines[1] == "bob@example.com  reason=user_unknown (hard)  status=5.1.1  reply=550"
    assert lines[2].startswith("    ") and "User unknown" in lines[2]


def test_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    plain = b"From: a@example.com\nTo: b@example.com\nSubject: hi\n\nhello\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(plain)))
    code, out, _ = run(capsys, "-", "--json")
    assert code == 0 and json.loads(out) == {"kind": "none", "recipients": []}


def test_unreadable_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, str(tmp_path / "missing.eml"))
    assert code == 1 and out == ""
    assert err.startswith("postoffice: error: ") and err.count("\n") == 1
    assert "missing.eml: No such file or directory" in err
