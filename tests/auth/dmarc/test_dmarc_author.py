"""The RFC5322.From domain DMARC judges (auth/dmarc/author.py)."""

import pytest

from postoffice.auth.dmarc import AuthorDomain, FromProblem, author_domain, author_domain_of


def message(*fields: str, body: str = "hello\r\n") -> bytes:
    return ("".join(f + "\r\n" for f in fields) + "\r\n" + body).encode()


@pytest.mark.parametrize("value, domain", [
    ("joe@Example.ORG", "example.org"),
    ("Joe <joe@example.org>", "example.org"),
    ('"paypal.com" <evil@x.example>', "x.example"),            # the display name is not the author
    ("paypal.com <evil@x.example>", "x.example"),              # obsolete unquoted phrase
    ("=?utf-8?q?paypal.com?= <evil@x.example>", "x.example"),  # encoded-word display name
    ("evil@x.example (ceo@paypal.com)", "x.example"),          # an address in a comment
    ('"ceo@paypal.com" <evil@x.example>', "x.example"),
    ("Jörg <jörg@bücher.example>", "xn--bcher-kva.example"),  # RFC 6532 UTF-8
])
def test_the_domain_is_the_addr_spec_one(value: str, domain: str) -> None:
    found = author_domain(message("Subject: hi", f"From: {value}"))
    assert isinstance(found, AuthorDomain) and found.domain == domain


@pytest.mark.parametrize("value, problem", [
    ("a@example.org, b@example.net", FromProblem.SEVERAL_ADDRESSES),
    ("a@example.org, a@example.org", FromProblem.SEVERAL_ADDRESSES),
    ("ceo@paypal.com <evil@x.example>", FromProblem.UNPARSEABLE),  # which one would a reader show?
    ("<evil@x.example> <good@example.org>", FromProblem.UNPARSEABLE),
    ("friends: a@example.org;", FromProblem.UNPARSEABLE),      # groups are not mailboxes
    ("undisclosed-recipients:;", FromProblem.UNPARSEABLE),
    ("joe@[192.0.2.1]", FromProblem.UNPARSEABLE),
    ("joe@", FromProblem.UNPARSEABLE),
    ("@example.org", FromProblem.UNPARSEABLE),
    ("", FromProblem.UNPARSEABLE),
    ("not an address", FromProblem.UNPARSEABLE),
])
def test_values_without_exactly_one_author(value: str, problem: FromProblem) -> None:
    assert author_domain_of(value) is problem


def test_from_fields_are_counted_however_they_are_written() -> None:
    assert author_domain(message("Subject: hi")) is FromProblem.NO_FROM
    two = message("From: a@example.org", "Subject: hi", "FROM: b@evil.example")
    assert author_domain(two) is FromProblem.SEVERAL_FROM_FIELDS
    spaced = message("From: a@example.org", "From : b@evil.example")  # obsolete WSP before ':'
    assert author_domain(spaced) is FromProblem.SEVERAL_FROM_FIELDS
    folded = author_domain(message("From: Joe\r\n <joe@example.org>"))
    assert folded == AuthorDomain("joe@example.org", "example.org")
    in_body = message("From: a@example.org", body="From: b@evil.example\r\n")
    assert author_domain(in_body) == AuthorDomain("a@example.org", "example.org")
    assert author_domain(b"\r\nFrom: a@example.org\r\n") is FromProblem.NO_FROM  # all body
