"""Dovecot imaptest's scripted tests replayed against postoffice's IMAP server (the issue's
checklist). Every script for an extension we advertise must pass; a script needing one we do
not advertise skips itself through its `capabilities:` header (the reason names it), and the
few others are in KNOWN_FAILING with the reason.

The scripts come from ../shared/conformance/imaptest-scripts (POSTOFFICE_CONFORMANCE)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from postoffice.testing.conformance import IMAPTEST_SCRIPTS
from postoffice.testing.imap_server import ImapServerThread
from postoffice.testing.imaptest import load_script, run_script

SCRIPTS = IMAPTEST_SCRIPTS
USERS = {"tester@example.org": "imaptest-password", "tester2@example.org": "imaptest-password2"}

KNOWN_FAILING: dict[str, str] = {}
NOT_ADVERTISED = {"CATENATE", "NOTIFY", "CONTEXT=SEARCH", "CONTEXT=SORT", "URLAUTH",
                  "URLAUTH=BINARY"}
"""Extensions we do not offer: their scripts skip themselves."""


def _script_names() -> list[str]:
    if not SCRIPTS.is_dir():
        return []
    return sorted(p.name for p in SCRIPTS.iterdir() if p.is_file() and p.suffix != ".mbox")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImapServerThread]:
    with ImapServerThread(tmp_path_factory.mktemp("imap"), USERS) as running:
        yield running


@pytest.mark.parametrize("name", _script_names())
def test_script(server: ImapServerThread, name: str) -> None:
    if name in KNOWN_FAILING:
        pytest.skip(KNOWN_FAILING[name])
    outcome = run_script(load_script(SCRIPTS / name), host=server.host, port=server.port,
                         users=list(USERS.items()))
    if outcome.skipped:
        missing = set(outcome.detail.upper().removeprefix("SERVER LACKS ").split())
        assert missing and missing <= NOT_ADVERTISED, outcome.detail
        pytest.skip(outcome.detail)
    assert outcome.passed, outcome.detail


def test_the_checklist_is_there() -> None:
    if not SCRIPTS.is_dir():
        pytest.skip(f"imaptest scripts not found at {SCRIPTS}")
    assert len(_script_names()) > 60
