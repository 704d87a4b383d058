"""SORT (RFC 5256, RFC 5957 DISPLAY, RFC 5267 ESORT): imaptest scripts and base subjects."""

from __future__ import annotations

from pathlib import Path

import pytest
from imaptest_replay import message, replay

from postoffice.proto.imap.sort import base_subject, sort, subject_parts

SCRIPTS = ["sort-addresses", "sort-arrival", "sort-date", "sort-display-from",
           "sort-display-to", "sort-size", "sort-subject", "esort", "sort-partial"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_imaptest_script(conformance_dir: Path, name: str) -> None:
    replay(conformance_dir / "imaptest-scripts" / "tests" / name)


@pytest.mark.parametrize(("subject", "base", "reply"), [
    ("Hello", "Hello", False),
    ("Re: Hello", "Hello", True),
    ("RE:  re: Fwd:Hello  ", "Hello", True),
    ("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b", True),
    ("Re: [FWD: c]", "c", True),
    ("re: [fwd: [fwd: re: [fwd: babylon]]]", "babylon", True),
    ("[xyz]", "[xyz]", False),
    ("[list] topic", "topic", False),
    ("[a][b] Re: topic", "topic", True),
    ("Ad: Re: Ad: x", "Ad: Re: Ad: x", False),
    ("topic (fwd)", "topic", True),
    ("re\t[blob]: tabbed\tsubject", "tabbed subject", True),
    ("   ", "", False),
    ("Re:", "", True),
    ("[fwd: ]", "", True),
])
def test_base_subject(subject: str, base: str, reply: bool) -> None:
    assert subject_parts(subject) == (base, reply)
    assert base_subject(subject) == base


def test_long_subject_is_linear() -> None:
    assert base_subject("Re: " * 50_000 + "x") == "x"
    assert base_subject("[fwd: " * 20_000 + "x" + "]" * 20_000) == "x"


def test_sort_ties_keep_sequence_order_under_reverse() -> None:
    messages = [message("Subject: b", when=2), message("Subject: a", when=1),
                message("Subject: B", when=1)]
    for i, m in enumerate(messages, 1):
        m.seq = i
    assert [m.seq for m in sort([("SUBJECT", True)], messages)] == [1, 3, 2]
    assert [m.seq for m in sort([("ARRIVAL", False), ("SUBJECT", True)], messages)] == [3, 2, 1]
