from postoffice.message import headers, trace


def test_header_end() -> None:
    assert headers.header_end(b"A: b\r\n\r\nbody") == 8
    assert headers.header_end(b"\r\nbody") == 2
    assert headers.header_end(b"A: b\r\nB: c\r\n") == -1


def test_parse_fields_unfolds_and_skips_junk() -> None:
    section = b"From: a@b.example\r\nSubject: one\r\n two\r\nnot a header\r\nX-Y:z\r\n\r\n"
    assert headers.parse_fields(section) == [
        ("From", "a@b.example"), ("Subject", "one two"), ("X-Y", "z")]
    assert headers.field_values(headers.parse_fields(section), "subject") == ["one two"]


def test_mailbox_addresses() -> None:
    assert headers.mailbox_addresses('"Bob B" <bob@example.test>, carol@example.test') == [
        "bob@example.test", "carol@example.test"]
    assert headers.mailbox_addresses("not an address") is None
    assert headers.mailbox_addresses("") is None
    assert headers.mailbox_addresses("<@>") is None


def test_received_header_shape() -> None:
    field = trace.received(helo="client.example", client_ip="192.0.2.1", by="mx.example.test",
                           protocol="ESMTPS", queue_id="ID1", timestamp=0.0,
                           recipient="bob@example.test", tls="TLSv1.3 TLS_AES_128_GCM_SHA256")
    text = field.decode()
    assert text.startswith("Received: from client.example ([192.0.2.1])\r\n\tby mx.example.test")
    assert "with ESMTPS id ID1" in text
    assert "for <bob@example.test>; Thu, 01 Jan 1970 00:00:00 +0000\r\n" in text
    assert text.endswith("\r\n") and "\n\t" in text
    v6 = trace.received(helo="", client_ip="::1", by="mx", protocol="SMTP", queue_id="X",
                        timestamp=0.0).decode()
    assert v6.startswith("Received: from [IPv6:::1] ([IPv6:::1])")
    assert "\t; Thu" in v6


def test_with_protocol_keywords() -> None:
    assert trace.with_protocol(False, False, False, False) == "SMTP"
    assert trace.with_protocol(True, True, True, False) == "ESMTPSA"
    assert trace.with_protocol(True, False, False, True) == "UTF8SMTP"
