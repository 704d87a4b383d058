"""SASL mechanisms as small pure state machines: PLAIN (RFC 4616) and LOGIN.

Shared by the SMTP, IMAP and POP3 cores. A mechanism takes the client's responses as decoded
bytes and answers with a `Challenge` (send it, wait for the next response) or with
`Credentials` (the exchange is complete; the caller verifies them). Base64 framing and the
"*" cancel belong to the protocol, with the two helpers below.
"""

from __future__ import annotations

import base64
import binascii
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar


class SaslError(ValueError):
    """The client's response is malformed (bad base64, missing NUL separators, bad UTF-8)."""


@dataclass(frozen=True)
class Challenge:
    """Send this (base64-encoded by the protocol) and wait for the next response."""

    data: bytes


@dataclass(frozen=True)
class Credentials:
    """A completed exchange."""

    mechanism: str
    authzid: str
    """Authorisation identity; "" when none was given."""
    username: str
    password: str = field(repr=False)


Step = Challenge | Credentials


class Mechanism(ABC):
    """One exchange of one mechanism; create a new object per AUTH attempt."""

    name: ClassVar[str]

    @abstractmethod
    def start(self, initial: bytes | None) -> Step:
        """Begin; `initial` is the initial response (b"" when sent as "="), None when absent."""

    @abstractmethod
    def respond(self, response: bytes) -> Step:
        """Feed the client's answer to the last challenge."""


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslError("not UTF-8") from None


class Plain(Mechanism):
    """PLAIN: one message `[authzid] NUL authcid NUL passwd`."""

    name = "PLAIN"

    def start(self, initial: bytes | None) -> Step:
        return Challenge(b"") if initial is None else self.respond(initial)

    def respond(self, response: bytes) -> Step:
        parts = response.split(b"\0")
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise SaslError("malformed PLAIN message")
        authzid, username, password = (_text(p) for p in parts)
        return Credentials(self.name, authzid, username, password)


class Login(Mechanism):
    """LOGIN (draft-murchison-sasl-login): "Username:" then "Password:" challenges."""

    name = "LOGIN"
    USERNAME: ClassVar[bytes] = b"Username:"
    PASSWORD: ClassVar[bytes] = b"Password:"

    def __init__(self) -> None:
        self._username: str | None = None

    def start(self, initial: bytes | None) -> Step:
        return Challenge(self.USERNAME) if initial is None else self.respond(initial)

    def respond(self, response: bytes) -> Step:
        if self._username is None:
            self._username = _text(response)
            return Challenge(self.PASSWORD)
        return Credentials(self.name, "", self._username, _text(response))


MECHANISMS: dict[str, type[Mechanism]] = {"PLAIN": Plain, "LOGIN": Login}
"""Supported mechanisms by upper-case name."""


def new_mechanism(name: str) -> Mechanism:
    """A fresh exchange for `name` (case-insensitive); KeyError when unsupported."""
    return MECHANISMS[name.upper()]()


def decode_response(line: bytes) -> bytes:
    """Strict base64 of one client response line; SaslError when malformed."""
    try:
        return base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise SaslError("bad base64") from None


def encode_challenge(data: bytes) -> bytes:
    return base64.b64encode(data)
