"""THREAD (RFC 5256): imaptest scripts, the REFERENCES rules, and the response form."""

from __future__ import annotations

from pathlib import Path

import pytest
from imaptest_replay import ScriptMessage, message, replay

from postoffice.proto.imap.thread import ThreadNode, render_threads, thread

SCRIPTS = ["thread", "thread2", "thread3", "thread4", "thread5", "thread6", "thread7",
           "thread8", "thread-orderedsubject", "thread-orderedsubject2"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_imaptest_script(conformance_dir: Path, name: str) -> None:
    replay(conformance_dir / "imaptest-scripts" / "tests" / name)


def numbered(*headers: str) -> list[ScriptMessage]:
    messages = [message(h, when=1000 + i) for i, h in enumerate(headers)]
    for i, m in enumerate(messages, 1):
        m.seq, m.uid = i, 100 + i
    return messages


def numbers(threads: list[ThreadNode]) -> list[object]:
    """The threads with each message replaced by its sequence number."""
    def convert(node: ThreadNode) -> object:
        view, children = node
        return (view.seq if view else None, tuple(convert(c) for c in children))
    return [convert(t) for t in threads]


def test_render_rfc_example() -> None:
    m = {n: message("Subject: x") for n in (2, 3, 4, 6, 7, 23, 44, 96)}
    for n, view in m.items():
        view.seq, view.uid = n, n + 1000
    threads: list[ThreadNode] = [
        (m[2], ()),
        (m[3], ((m[6], ((m[4], ((m[23], ()),)), (m[44], ((m[7], ((m[96], ()),)),)))),)),
    ]
    assert render_threads(threads) == b"(2)(3 6 (4 23)(44 7 96))"
    assert render_threads(threads[:1], uid=True) == b"(1002)"
    assert render_threads([(None, ((m[2], ()), (m[3], ((m[4], ()),))))]) == b"((2)(3 4))"
    assert render_threads([]) == b""


def test_references_uses_in_reply_to_and_uids() -> None:
    messages = numbered("Message-ID: <a@x>\nSubject: topic",
                        "Message-ID: <b@x>\nIn-Reply-To: <a@x> (sent by alice)",
                        "Message-ID: <c@x>\nReferences: <a@x>\n <b@x>")
    assert numbers(thread("REFERENCES", messages)) == [(1, ((2, ((3, ()),)),))]
    assert render_threads(thread("references", messages), uid=True) == b"(101 102 103)"


def test_references_subject_merge_makes_a_dummy() -> None:
    # two unrelated messages with the same subject, neither a reply: a dummy holds both
    messages = numbered("Message-ID: <a@x>\nSubject: news", "Message-ID: <b@x>\nSubject: News")
    assert numbers(thread("REFERENCES", messages)) == [(None, ((1, ()), (2, ())))]
    assert render_threads(thread("REFERENCES", messages)) == b"((1)(2))"


def test_references_reply_joins_the_original_by_subject() -> None:
    messages = numbered("Message-ID: <a@x>\nSubject: Re: plans",
                        "Message-ID: <b@x>\nSubject: plans")
    assert numbers(thread("REFERENCES", messages)) == [(2, ((1, ()),))]


def test_orderedsubject() -> None:
    messages = numbered("Subject: b", "Subject: a", "Subject: Re: b", "Subject: re: A",
                        "Subject: fwd: b")
    assert render_threads(thread("ORDEREDSUBJECT", messages)) == b"(1 (3)(5))(2 4)"


def test_long_reply_chain() -> None:
    headers = ["Message-ID: <0@x>"] + [
        f"Message-ID: <{i}@x>\nIn-Reply-To: <{i - 1}@x>" for i in range(1, 3000)]
    rendered = render_threads(thread("REFERENCES", numbered(*headers)))
    assert rendered == ("(" + " ".join(str(i) for i in range(1, 3001)) + ")").encode()
