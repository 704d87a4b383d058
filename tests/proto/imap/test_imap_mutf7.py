import pytest
from hypothesis import given
from hypothesis import strategies as st

from postoffice.proto.imap import mutf7
from postoffice.proto.imap.errors import GrammarError
from postoffice.proto.imap.values import decode_mailbox


@pytest.mark.parametrize(("text", "name"), [
    ("INBOX", "INBOX"),
    ("p&AOQA5A-", "pää"),
    ("Entw&APw-rfe", "Entwürfe"),
    ("&-", "&"),
    ("Tom &- Jerry", "Tom & Jerry"),
    ("~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語"),
    ("&2D3eAA-", "\U0001f600"),
])
def test_rfc_examples(text: str, name: str) -> None:
    assert mutf7.decode(text) == name
    assert mutf7.encode(name) == text


@pytest.mark.parametrize("text", ["&Jjo!", "&U,BTFw", "pää", "&AGE-", "&ZeVnLIqe&U,BTFw-"])
def test_invalid_or_non_canonical(text: str) -> None:
    with pytest.raises(mutf7.Mutf7Error):
        mutf7.decode(text)


@given(st.text())
def test_round_trip(name: str) -> None:
    assert mutf7.decode(mutf7.encode(name)) == name


def test_decode_mailbox_by_mode() -> None:
    assert decode_mailbox("pää".encode(), utf8=True) == "pää"
    assert decode_mailbox(b"p&AOQA5A-", utf8=False) == "pää"
    assert decode_mailbox(b"inbox", utf8=False) == "INBOX"
    with pytest.raises(GrammarError):
        decode_mailbox("pää".encode(), utf8=False)
