"""ManageSieve sessions against the sans-I/O core, checked octet for octet (RFC 5804)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import pytest

from memory_script_store import MemoryScriptStore
from postoffice.proto.managesieve.config import ServerConfig
from postoffice.proto.managesieve.events import (
    NEED_DATA,
    Authenticate,
    Closed,
    Event,
    PutScript,
    Request,
    StartTls,
)
from postoffice.proto.managesieve.server import LocalProtocolError, ServerConnection, State
from postoffice.proto.managesieve.store import TryLater, perform
from postoffice.sieve import SUPPORTED

SIEVE = " ".join(sorted(SUPPORTED)).encode()
CAPS_PLAIN_TEXT = (b'"IMPLEMENTATION" "postoffice"\r\n"SASL" ""\r\n"SIEVE" "' + SIEVE + b'"\r\n'
                   b'"STARTTLS"\r\n"MAXREDIRECTS" "5"\r\n"UNAUTHENTICATE"\r\n"VERSION" "1.0"\r\n')
CAPS_TLS = (b'"IMPLEMENTATION" "postoffice"\r\n"SASL" "PLAIN"\r\n"SIEVE" "' + SIEVE + b'"\r\n'
            b'"MAXREDIRECTS" "5"\r\n"UNAUTHENTICATE"\r\n"VERSION" "1.0"\r\n')
GOOD = 'require "fileinto";\r\nif header :contains "subject" "sale" { fileinto "Junk"; }\r\n'
PLAIN = base64.b64encode(b"\0alice\0s3cret").decode()


def literal(text: str, plus: bool = True) -> bytes:
    data = text.encode()
    return b"{%d%s}\r\n" % (len(data), b"+" if plus else b"") + data


@dataclass
class Driver:
    config: ServerConfig = field(default_factory=ServerConfig)
    secure: bool = True
    store: MemoryScriptStore = field(default_factory=MemoryScriptStore)
    events: list[Event] = field(default_factory=list)
    failing: bool = False
    """Answer every Request with unavailable() (the store is down)."""

    def __post_init__(self) -> None:
        self.conn = ServerConnection(self.config, secure=self.secure)
        self.conn.greet()
        self.greeting = self.conn.data_to_send()

    def feed(self, data: bytes) -> bytes:
        """Feed bytes, answer every event, return what the core wrote."""
        self.conn.receive_data(data)
        out = bytearray()
        while (event := self.conn.next_event()) is not NEED_DATA:
            assert isinstance(event, Event)
            self.events.append(event)
            if isinstance(event, Authenticate):
                if (event.username, event.password) == ("alice", "s3cret"):
                    self.conn.authenticated("alice@example.test")
                else:
                    self.conn.auth_failed()
            elif isinstance(event, Request):
                if self.failing:
                    self.conn.unavailable()
                else:
                    self.conn.answer(perform(self.store, event))
            elif isinstance(event, StartTls):
                out += self.conn.data_to_send()
                self.conn.tls_started()
            elif isinstance(event, Closed):
                break
        return bytes(out + self.conn.data_to_send())

    def login(self) -> None:
        assert self.feed(f'AUTHENTICATE "PLAIN" "{PLAIN}"\r\n'.encode()) == b'OK "Logged in"\r\n'


def signed_in(**options: object) -> Driver:
    driver = Driver(**options)  # type: ignore[arg-type]
    driver.login()
    return driver


# -- greeting, STARTTLS, AUTHENTICATE ---------------------------------------------------------

def test_greeting_before_tls_offers_starttls_and_no_mechanism() -> None:
    d = Driver(secure=False)
    assert d.greeting == CAPS_PLAIN_TEXT + b'OK "postoffice ManageSieve ready"\r\n'


def test_starttls_reissues_capabilities_and_drops_pipelined_commands() -> None:
    d = Driver(secure=False)
    assert d.feed(f'AUTHENTICATE "PLAIN" "{PLAIN}"\r\n'.encode()) == \
        b'NO (ENCRYPT-NEEDED) "Use STARTTLS first"\r\n'
    out = d.feed(b"STARTTLS\r\nLISTSCRIPTS\r\n")
    assert out == (b'OK "Begin TLS negotiation"\r\n' + CAPS_TLS
                   + b'OK "TLS negotiation successful"\r\n')
    assert d.conn.secure and d.conn.state is State.NONAUTH
    assert d.feed(b"STARTTLS\r\n") == b'NO "STARTTLS not available"\r\n'
    d.login()


def test_plaintext_auth_when_configured() -> None:
    d = Driver(ServerConfig(plaintext_auth=True, tls_available=False), secure=False)
    assert b'"SASL" "PLAIN"' in d.greeting and b"STARTTLS" not in d.greeting
    d.login()


def test_capability_after_login_names_the_owner() -> None:
    d = signed_in()
    assert d.feed(b"CAPABILITY\r\n") == (CAPS_TLS.replace(
        b'"VERSION"', b'"OWNER" "alice@example.test"\r\n"VERSION"') + b"OK\r\n")


@pytest.mark.parametrize("initial", [
    f'"{PLAIN}"'.encode(), literal(PLAIN), literal(PLAIN, plus=False)])
def test_authenticate_with_initial_response(initial: bytes) -> None:
    d = Driver()
    assert d.feed(b'AUTHENTICATE "plain" ' + initial + b"\r\n") == b'OK "Logged in"\r\n'
    assert d.conn.user == "alice@example.test"
    assert d.events == [Authenticate("alice", "s3cret")]


def test_authenticate_with_continuation() -> None:
    d = Driver()
    assert d.feed(b'AUTHENTICATE "PLAIN"\r\n') == b'""\r\n'
    assert d.feed(literal(PLAIN) + b"\r\n") == b'OK "Logged in"\r\n'


def test_authenticate_cancelled_and_malformed() -> None:
    d = Driver()
    assert d.feed(b'AUTHENTICATE "PLAIN"\r\n"*"\r\n') == b'""\r\nNO "Authentication cancelled"\r\n'
    assert d.feed(b'AUTHENTICATE "PLAIN" "###"\r\n') == b'NO "Malformed response: bad base64"\r\n'
    assert d.feed(b'AUTHENTICATE "PLAIN"\r\nPLAIN\r\n') == b'""\r\nNO "Expected a string"\r\n'
    proxy = base64.b64encode(b"bob\0alice\0s3cret")
    assert d.feed(b'AUTHENTICATE "PLAIN" "' + proxy + b'"\r\n') == \
        b'NO "Authorization identity not permitted"\r\n'
    assert d.events == []


def test_other_mechanisms() -> None:
    d = Driver()
    assert d.feed(b'AUTHENTICATE "LOGIN"\r\n') == b'NO (AUTH-TOO-WEAK) "Use PLAIN"\r\n'
    assert d.feed(b'AUTHENTICATE "CRAM-MD5"\r\n') == b'NO "Unsupported mechanism"\r\n'


def test_failed_logins_end_with_bye() -> None:
    d = Driver()
    wrong = base64.b64encode(b"\0alice\0wrong").decode()
    command = f'AUTHENTICATE "PLAIN" "{wrong}"\r\n'.encode()
    assert d.feed(command * 2) == b'NO "Authentication failed"\r\n' * 2
    assert d.feed(command) == b'BYE "Too many failed logins"\r\n'
    assert d.events[-1] == Closed("too-many-failures")


def test_commands_need_the_right_state() -> None:
    d = Driver()
    assert d.feed(b"LISTSCRIPTS\r\n") == b'NO "Not allowed now"\r\n'
    assert d.feed(b"FROB\r\n") == b'NO "Unknown command"\r\n'
    assert d.feed(b'"LISTSCRIPTS"\r\n') == b'NO "Unknown command"\r\n'
    d.login()
    assert d.feed(f'AUTHENTICATE "PLAIN" "{PLAIN}"\r\n'.encode()) == b'NO "Not allowed now"\r\n'
    assert d.feed(b"STARTTLS\r\n") == b'NO "Not allowed now"\r\n'


def test_unauthenticate_and_logout() -> None:
    d = signed_in()
    assert d.feed(b"UNAUTHENTICATE\r\nLISTSCRIPTS\r\n") == b'OK\r\nNO "Not allowed now"\r\n'
    assert d.conn.user is None
    d.login()
    assert d.feed(b"LOGOUT\r\nNOOP\r\n") == b'OK "Logout"\r\n'
    assert d.events[-1] == Closed("logout")


def test_noop_echoes_its_tag() -> None:
    d = Driver()
    assert d.feed(b'NOOP\r\nNOOP "a \\"tag\\""\r\n') == \
        b'OK "Done"\r\nOK (TAG "a \\"tag\\"") "Done"\r\n'


# -- scripts ------------------------------------------------------------------------------

def test_put_list_activate_get_delete() -> None:
    d = signed_in()
    assert d.feed(b'PUTSCRIPT "vacation" ' + literal(GOOD) + b"\r\n") == b'OK "Script stored"\r\n'
    assert d.feed(b'PUTSCRIPT "other" "keep;"\r\n') == b'OK "Script stored"\r\n'
    assert d.feed(b'SETACTIVE "vacation"\r\nLISTSCRIPTS\r\n') == \
        b'OK "Active script set"\r\n"other"\r\n"vacation" ACTIVE\r\nOK\r\n'
    source = GOOD.encode()
    assert d.feed(b'GETSCRIPT "vacation"\r\n') == \
        b"{%d}\r\n%s\r\nOK\r\n" % (len(source), source)
    assert d.feed(b'DELETESCRIPT "vacation"\r\n') == b'NO (ACTIVE) "The script is active"\r\n'
    assert d.feed(b'SETACTIVE ""\r\nDELETESCRIPT "vacation"\r\nLISTSCRIPTS\r\n') == \
        b'OK "No script is active"\r\nOK "Script deleted"\r\n"other"\r\nOK\r\n'
    assert d.store.scripts == {"alice@example.test": {"other": "keep;"}}


def test_missing_scripts_are_nonexistent() -> None:
    d = signed_in()
    missing = b'NO (NONEXISTENT) "No such script"\r\n'
    for command in (b'GETSCRIPT "x"', b'DELETESCRIPT "x"', b'SETACTIVE "x"',
                    b'RENAMESCRIPT "x" "y"'):
        assert d.feed(command + b"\r\n") == missing


def test_rename_keeps_the_active_mark_and_refuses_taken_names() -> None:
    d = signed_in()
    d.feed(b'PUTSCRIPT "a" "keep;"\r\nPUTSCRIPT "b" "stop;"\r\nSETACTIVE "a"\r\n')
    assert d.feed(b'RENAMESCRIPT "a" "b"\r\n') == \
        b'NO (ALREADYEXISTS) "A script with that name already exists"\r\n'
    assert d.feed(b'RENAMESCRIPT "a" "c"\r\nLISTSCRIPTS\r\n') == \
        b'OK "Script renamed"\r\n"b"\r\n"c" ACTIVE\r\nOK\r\n'


def test_invalid_script_is_refused_with_the_checkers_reason() -> None:
    d = signed_in()
    bad = 'require "fileinto";\r\nfrobnicate;\r\n'
    assert d.feed(b'PUTSCRIPT "bad" ' + literal(bad) + b"\r\n") == \
        b"NO \"line 2: unknown command 'frobnicate'\"\r\n"
    assert d.feed(b'CHECKSCRIPT "fileinto \\"x\\";"\r\n') == \
        b"NO \"line 1: 'fileinto' is used but not declared with require\"\r\n"
    assert d.feed(b"CHECKSCRIPT " + literal(GOOD) + b"\r\n") == b'OK "Script is valid"\r\n'
    assert d.feed(b'PUTSCRIPT "x" "\xff"\r\n') == b'NO "Scripts are UTF-8"\r\n'
    assert d.store.scripts == {}


def test_script_names() -> None:
    d = signed_in()
    assert d.feed('PUTSCRIPT "Ünïcode ☃" "keep;"\r\n'.encode()) == b'OK "Script stored"\r\n'
    assert d.feed(b'PUTSCRIPT "a\x01b" "keep;"\r\n') == \
        b'NO "Invalid character in script name"\r\n'
    assert d.feed(b'PUTSCRIPT "" "keep;"\r\n') == b'NO "Empty script name"\r\n'
    assert d.feed('PUTSCRIPT "e\u0301" "keep;"\r\n'.encode()) == \
        b'NO "Script names must be in Unicode NFC"\r\n'
    assert d.feed(b"PUTSCRIPT " + literal("a\r\nb") + b' "keep;"\r\n') == \
        b'NO "Invalid character in script name"\r\n'
    assert d.feed(b'PUTSCRIPT "' + b"n" * 129 + b'" "keep;"\r\n') == \
        b'NO "Script names are at most 128 octets"\r\n'


def test_arguments_are_checked() -> None:
    d = signed_in()
    assert d.feed(b"GETSCRIPT\r\n") == b'NO "Wrong number of arguments"\r\n'
    assert d.feed(b"GETSCRIPT name\r\n") == b'NO "Expected a quoted string or a literal"\r\n'
    assert d.feed(b'HAVESPACE "a" "10"\r\n') == b'NO "Expected a number"\r\n'
    assert d.feed(b'HAVESPACE "a" 99999999999\r\n') == b'NO "Expected a number"\r\n'
    assert d.feed(b'GETSCRIPT "unterminated\r\n') == \
        b'NO "Syntax error: Malformed quoted string"\r\n'
    assert d.feed(b'GETSCRIPT "a\\x"\r\n') == b'NO "Syntax error: Malformed quoted string"\r\n'
    assert d.feed(b"\r\nNOOP\r\n") == b'OK "Done"\r\n'  # an empty line is ignored


# -- quotas and limits ----------------------------------------------------------------------

def test_havespace_and_quotas() -> None:
    d = signed_in(config=ServerConfig(max_script_size=100, max_scripts=2),
                  store=MemoryScriptStore(quota=150))
    assert d.feed(b'HAVESPACE "a" 100\r\n') == b"OK\r\n"
    assert d.feed(b'HAVESPACE "a" 101\r\n') == \
        b'NO (QUOTA/MAXSIZE) "Scripts are at most 100 octets"\r\n'
    assert d.feed(b"PUTSCRIPT \"a\" " + literal("#" * 90 + "\r\nkeep;") + b"\r\n") == \
        b'OK "Script stored"\r\n'
    assert d.feed(b'HAVESPACE "b" 80\r\n') == b'NO (QUOTA) "Not enough space"\r\n'
    assert d.feed(b'HAVESPACE "a" 100\r\n') == b"OK\r\n"  # replacing frees its own space
    assert d.feed(b'PUTSCRIPT "b" "keep;"\r\n') == b'OK "Script stored"\r\n'
    assert d.feed(b'PUTSCRIPT "c" "keep;"\r\n') == \
        b'NO (QUOTA/MAXSCRIPTS) "At most 2 scripts"\r\n'
    assert d.feed(b'PUTSCRIPT "b" "stop;"\r\n') == b'OK "Script stored"\r\n'


def test_oversized_literal_is_skipped_and_refused() -> None:
    d = signed_in(config=ServerConfig(max_script_size=100, max_line=200))
    big = literal("#" * 5000)
    assert d.feed(b'PUTSCRIPT "a" ' + big + b"\r\nNOOP\r\n") == \
        b'NO (QUOTA/MAXSIZE) "Scripts are at most 100 octets"\r\nOK "Done"\r\n'
    assert d.store.scripts == {}


def test_literal_before_login_is_limited() -> None:
    d = Driver(config=ServerConfig(max_auth_literal=100))
    assert d.feed(b'AUTHENTICATE "PLAIN" {101+}\r\n') == b'BYE "Literal too large"\r\n'
    assert d.events == [Closed("literal-too-large")]


def test_overlong_line_ends_the_session() -> None:
    d = Driver(config=ServerConfig(max_line=64))
    assert d.feed(b"NOOP " + b"x" * 100) == b'BYE "Line too long"\r\n'
    assert d.events == [Closed("line-too-long")]


def test_back_end_failures_answer_trylater() -> None:
    d = signed_in(failing=True)
    assert d.feed(b"LISTSCRIPTS\r\n") == b'NO (TRYLATER) "Try again later"\r\n'

    class Locked(MemoryScriptStore):
        def put(self, user: str, name: str, source: str) -> None:
            raise TryLater("database is locked")
    d = signed_in(store=Locked())
    assert d.feed(b'PUTSCRIPT "a" "keep;"\r\n') == b'NO (TRYLATER) "Try again later"\r\n'


# -- framing ------------------------------------------------------------------------------

def test_byte_by_byte_equals_all_at_once() -> None:
    session = (f'AUTHENTICATE "PLAIN" "{PLAIN}"\r\n'.encode()
               + b'PUTSCRIPT "s" ' + literal(GOOD) + b"\r\n"
               + b'PUTSCRIPT {1+}\r\nt {5}\r\nkeep;\r\n'
               + b'SETACTIVE "s"\r\nLISTSCRIPTS\r\nGETSCRIPT "t"\r\nLOGOUT\r\n')
    whole = Driver().feed(session)
    d = Driver()
    split = b"".join(d.feed(session[i:i + 1]) for i in range(len(session)))
    assert split == whole
    assert whole.endswith(b'"s" ACTIVE\r\n"t"\r\nOK\r\n{5}\r\nkeep;\r\nOK\r\nOK "Logout"\r\n')


def test_pipelined_commands_wait_for_answers() -> None:
    conn = ServerConnection(ServerConfig(), secure=True)
    conn.greet()
    conn.data_to_send()
    conn.receive_data(f'AUTHENTICATE "PLAIN" "{PLAIN}"\r\nPUTSCRIPT "a" "keep;"\r\n'.encode())
    assert isinstance(conn.next_event(), Authenticate)
    assert conn.next_event() is NEED_DATA  # nothing happens until the answer
    with pytest.raises(LocalProtocolError):
        conn.answer(b"OK\r\n")
    conn.authenticated("alice")
    event = conn.next_event()
    assert event == PutScript("alice", "a", "keep;", 20)
    conn.answer(perform(MemoryScriptStore(), event))
    assert conn.data_to_send() == b'OK "Logged in"\r\nOK "Script stored"\r\n'


def test_eof_closes_after_buffered_commands() -> None:
    d = Driver()
    d.conn.receive_eof()
    assert d.feed(b"") == b""
    assert d.events == [Closed("eof")]
