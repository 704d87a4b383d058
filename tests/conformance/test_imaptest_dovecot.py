"""Dovecot imaptest's scripted tests, replayed by our runner against a private real Dovecot.

This validates the runner (postoffice.testing.imaptest), not Dovecot: every script must pass
against Dovecot, so a failure here is a runner bug, unless the script is in SKIPPED with the
Dovecot behaviour that explains it. A second set of tests runs deliberately wrong scripts and
checks that the runner does fail them, so that passing means something.

Needs ``dovecot`` (Debian package dovecot-imapd): skipped without it, failed in CI
(POSTOFFICE_REQUIRE_PEERS=1). The scripts come from ../shared/conformance/imaptest-scripts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from postoffice.testing.conformance import IMAPTEST_SCRIPTS
from postoffice.testing.dovecot import PrivateDovecot
from postoffice.testing.imaptest import Outcome, load_script, run_script

pytestmark = pytest.mark.peer

SCRIPTS = IMAPTEST_SCRIPTS

# Users without a domain: imaptest builds URLAUTH URLs as $username@$domain, and Dovecot only
# accepts its own login name there.
USERS = {"tester": "imaptest-password", "tester2": "imaptest-password2"}

SKIPPED = {
    "urlauth-binary": "Dovecot 2.3.19 panics on URLFETCH ... BINARY (imap-client.c "
    "client_command_free: assertion !cmd->executing) and drops the connection",
    "urlauth2": "URLFETCH of another user's URL goes through Dovecot's imap-urlauth service, "
    "which does not work in PrivateDovecot: chrooted mail processes (as root) cannot reach its "
    "socket and Dovecot 2.3.19 then panics; unprivileged, the URLFETCH hangs",
}
"""Scripts not run, with the reason."""

UNSUPPORTED = {
    "sort-partial": "Dovecot does not implement CONTEXT=SORT",
}
"""Scripts the runner must skip by themselves (``capabilities:``), with the reason."""


def _script_names() -> list[str]:
    if not SCRIPTS.is_dir():
        return []
    return sorted(p.name for p in SCRIPTS.iterdir() if p.is_file() and p.suffix != ".mbox")


@pytest.fixture(scope="module")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateDovecot]:
    with PrivateDovecot(tmp_path_factory.mktemp("dovecot"), users=USERS) as server:
        yield server


def _run(server: PrivateDovecot, path: Path) -> Outcome:
    host, port = server.imap_address
    return run_script(load_script(path), host=host, port=port, users=list(USERS.items()))


def test_scripts_present() -> None:
    if not SCRIPTS.is_dir():
        pytest.skip(f"imaptest scripts not found at {SCRIPTS}")
    assert len(_script_names()) > 60


@pytest.mark.parametrize("name", _script_names())
def test_script_loads(name: str) -> None:
    script = load_script(SCRIPTS / name)
    assert script.groups({})


@pytest.mark.parametrize("name", _script_names())
def test_script_passes_against_dovecot(dovecot: PrivateDovecot, name: str) -> None:
    if name in SKIPPED:
        pytest.skip(SKIPPED[name])
    outcome = _run(dovecot, SCRIPTS / name)
    if name in UNSUPPORTED:
        assert outcome.skipped, outcome
        pytest.skip(f"{UNSUPPORTED[name]} ({outcome.detail})")
    assert outcome.passed, str(outcome)


MBOX = "".join(
    f"From user@domain  Fri Feb 22 17:06:2{n} 2008\nFrom: user{n}@domain.org\nSubject: s{n}\n\nbody{n}\n\n"
    for n in range(1, 4)
)

WRONG_SCRIPTS = {
    "missing-reply": ("messages: 3\n\nok search all\n* search 1 2\n", "missing 1 untagged"),
    "banned-reply": ("messages: 1\n\nok fetch 1 uid\n! 1 fetch (uid $uid)\n", "unexpected untagged"),
    "wrong-status": ("state: auth\n\nno noop\n", "unexpected tagged reply"),
    "wrong-code": ("state: created\n\nselect $mailbox\nok [read-only]\n", "unexpected tagged"),
    "variable-rebound": (
        "messages: 2\n\nok fetch 1 uid\n* 1 fetch (uid $u)\nok fetch 2 uid\n* 2 fetch (uid $u)\n",
        "missing 1 untagged",
    ),
    "extra-flag": (
        "messages: 1\n\nok store 1 flags (\\seen \\flagged)\n* 1 fetch (flags (\\seen))\n",
        "missing 1 untagged",
    ),
    "extra-untagged": (
        "messages: 1\nignore_extra_untagged: no\n\nok fetch 1 uid\n",
        "unexpected untagged replies",
    ),
    "modseq-order": (
        "capabilities: CONDSTORE\nmessages: 2\n\n"
        "ok store 1 +flags \\seen\n* 1 fetch (modseq ($modseq5))\n"
        "ok store 2 +flags \\seen\n* 2 fetch (modseq ($modseq9))\n",
        "missing 1 untagged",
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG_SCRIPTS))
def test_wrong_script_fails(dovecot: PrivateDovecot, tmp_path: Path, name: str) -> None:
    text, message = WRONG_SCRIPTS[name]
    (tmp_path / name).write_text(text)
    (tmp_path / "default.mbox").write_text(MBOX)
    outcome = _run(dovecot, tmp_path / name)
    assert outcome.failed, outcome
    assert message in outcome.detail, outcome.detail


def test_missing_capability_skips(dovecot: PrivateDovecot, tmp_path: Path) -> None:
    (tmp_path / "needs-x").write_text("capabilities: X-POSTOFFICE-NONE\n\nok noop\n")
    (tmp_path / "default.mbox").write_text(MBOX)
    outcome = _run(dovecot, tmp_path / "needs-x")
    assert outcome.skipped and "X-POSTOFFICE-NONE" in outcome.detail, outcome
