"""SEARCH evaluation: Dovecot's imaptest scripts, the RFC corner cases, properties, speed."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imaptest_replay import NOW, ScriptMessage, message, replay

from postoffice.proto.imap.errors import GrammarError
from postoffice.proto.imap.grammar import parse_command
from postoffice.proto.imap.matching import (
    SearchContext,
    compact_set,
    compile_search,
    esearch_response,
    highest_modseq,
    partial_range,
    search,
    search_response,
    uses_modseq,
)
from postoffice.proto.imap.search import And, Criterion, Not, Or, SearchKey, Sequence
from postoffice.proto.imap.values import SequenceSet

SCRIPTS = ["search-addresses", "search-body", "search-date", "search-flags", "search-header",
           "search-sets", "search-size", "esearch", "search-partial"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_imaptest_script(conformance_dir: Path, name: str) -> None:
    replay(conformance_dir / "imaptest-scripts" / "tests" / name)


def key_of(text: str) -> SearchKey:
    command = parse_command(b"t SEARCH " + text.encode())
    return command.arguments.key  # type: ignore[attr-defined, no-any-return]


def numbered(messages: list[ScriptMessage]) -> list[ScriptMessage]:
    for i, m in enumerate(messages, 1):
        m.seq, m.uid = i, 10 * i
    return messages


def context(messages: list[ScriptMessage], **changes: object) -> SearchContext:
    values: dict[str, object] = {"largest_seq": len(messages),
                                 "largest_uid": max((m.uid for m in messages), default=0),
                                 "now": NOW, "zone": UTC}
    values.update(changes)
    return SearchContext(**values)  # type: ignore[arg-type]


def seqs(text: str, messages: list[ScriptMessage], **changes: object) -> list[int]:
    return [m.seq for m in search(key_of(text), messages, context(messages, **changes))]


def test_saved_result_is_a_uid_set() -> None:
    messages = numbered([message("Subject: x") for _ in range(4)])
    assert seqs("$", messages, saved=frozenset({20, 40})) == [2, 4]
    assert seqs("UID $", messages, saved=frozenset({20, 40})) == [2, 4]
    assert seqs("NOT $", messages) == [1, 2, 3, 4]


def test_star_and_reversed_ranges() -> None:
    messages = numbered([message("Subject: x") for _ in range(5)])
    assert seqs("*", messages) == [5]
    assert seqs("4:2", messages) == [2, 3, 4]
    assert seqs("UID *:35", messages) == [4, 5]
    assert seqs("1,3:4,2", messages) == [1, 2, 3, 4]
    assert seqs("UID 15", messages) == []


def test_internal_date_uses_the_server_zone() -> None:
    # 23:30 UTC on 1 March is already 2 March in UTC+2
    when = datetime(2024, 3, 1, 23, 30, tzinfo=UTC).timestamp()
    messages = numbered([message("Subject: x", when=when)])
    plus2 = timezone(timedelta(hours=2))
    assert seqs("ON 1-Mar-2024", messages) == [1]
    assert seqs("ON 2-Mar-2024", messages, zone=plus2) == [1]
    assert seqs("BEFORE 2-Mar-2024", messages, zone=plus2) == []
    assert seqs("SINCE 2-Mar-2024", messages, zone=plus2) == [1]


def test_sent_date_falls_back_to_internal_date() -> None:
    when = datetime(2024, 3, 1, 12, tzinfo=UTC).timestamp()
    messages = numbered([message("Date: not a date", when=when),
                         message("Subject: no date", when=when),
                         message("Date: 5 Mar 2024 01:00 +0900", when=when)])
    assert seqs("SENTON 1-Mar-2024", messages) == [1, 2]
    assert seqs("SENTON 5-Mar-2024", messages) == [3]


def test_older_and_younger() -> None:
    messages = numbered([message("Subject: x", when=NOW - age) for age in (10, 100, 1000)])
    assert seqs("OLDER 100", messages) == [2, 3]
    assert seqs("YOUNGER 100", messages) == [1, 2]


def test_keyword_is_case_insensitive() -> None:
    messages = numbered([message("Subject: x"), message("Subject: y")])
    messages[0].flags = frozenset({"$Label1", "\\Seen"})
    assert seqs("KEYWORD $label1", messages) == [1]
    assert seqs("UNKEYWORD $LABEL1", messages) == [2]
    assert seqs("KEYWORD \\seen", messages) == [1]


def test_text_matching_casefolds_unicode() -> None:
    messages = numbered([message("Subject: Grüße aus STRASSE", "Körper"),
                         message("Subject: other", "nothing")])
    assert seqs('CHARSET UTF-8 SUBJECT "gru\u0308sse"', messages) == []  # no normalisation
    assert seqs('CHARSET UTF-8 SUBJECT "GRÜSSE"', messages) == [1]
    assert seqs('CHARSET UTF-8 SUBJECT "straße"', messages) == [1]  # ß folds to ss
    assert seqs('CHARSET UTF-8 BODY "KÖRPER"', messages) == [1]
    assert seqs('TEXT "subject: other"', messages) == [2]
    assert seqs('HEADER x-missing ""', messages) == []


def test_cheap_keys_first_body_read_once() -> None:
    messages = numbered([message("Subject: x", "needle") for _ in range(4)])
    for m in messages[:2]:
        m.flags = frozenset({"\\Seen"})
    assert seqs("BODY needle UNSEEN OR BODY nothing TEXT needle", messages) == [3, 4]
    assert [m.body_reads for m in messages] == [0, 0, 1, 1]


def test_modseq_search_and_answer() -> None:
    # esearch-condstore: STORE +FLAGS \Seen on 1, 3, 2, 4 in that order
    messages = numbered([message("Subject: x") for _ in range(4)])
    for order, m in enumerate((messages[0], messages[2], messages[1], messages[3])):
        m.modseq = 10 + order
    ctx = context(messages)

    def answer(key: SearchKey, returns: tuple[str, ...]) -> bytes:
        found = search(key, messages, ctx)
        modseq = highest_modseq(found, returns) if uses_modseq(key) else None
        return esearch_response("t", [m.seq for m in found], returns, modseq=modseq)

    def key(numbers: str, modseq: int) -> SearchKey:
        return And((key_of(numbers), Criterion("MODSEQ", modseq)))
    assert answer(key("1:3", 1), ("MIN",)) == b'* ESEARCH (TAG "t") MIN 1 MODSEQ 10\r\n'
    assert answer(key("1:3", 1), ("MAX",)) == b'* ESEARCH (TAG "t") MAX 3 MODSEQ 11\r\n'
    assert answer(key("1:3", 1), ()) == b'* ESEARCH (TAG "t") ALL 1:3 MODSEQ 12\r\n'
    assert answer(key("2:3", 1), ("MIN", "MAX")) == \
        b'* ESEARCH (TAG "t") MIN 2 MAX 3 MODSEQ 12\r\n'
    assert answer(key("2:3", 11), ("ALL",)) == b'* ESEARCH (TAG "t") ALL 2:3 MODSEQ 12\r\n'
    assert answer(key("2:3", 12), ("ALL",)) == b'* ESEARCH (TAG "t") ALL 2 MODSEQ 12\r\n'
    assert answer(key("2:3", 13), ("ALL",)) == b'* ESEARCH (TAG "t")\r\n'
    assert search_response([2, 3], 12) == b"* SEARCH 2 3 (MODSEQ 12)\r\n"
    assert search_response([], 12) == b"* SEARCH\r\n"
    assert not uses_modseq(key_of("ALL"))


def test_compact_set_and_esearch() -> None:
    assert compact_set([5, 1, 2, 3, 3]) == "1:3,5"
    assert compact_set([]) == ""
    assert compact_set([5, 3, 4, 2, 1], ordered=True) == "5,3:4,2,1"
    assert esearch_response("a", [2, 3, 9], ("COUNT", "MIN", "ALL", "MAX"), uid=True) == \
        b'* ESEARCH (TAG "a") UID MIN 2 MAX 9 COUNT 3 ALL 2:3,9\r\n'
    assert esearch_response("a", [], ("COUNT", "MIN")) == b'* ESEARCH (TAG "a") COUNT 0\r\n'


def test_partial() -> None:
    assert partial_range("4:2") == (2, 4)
    assert partial_range("-1:-3") == (-1, -3)
    for bad in ("1", "0:3", "-1:3", "1:*", "1:-2"):
        with pytest.raises(GrammarError):
            partial_range(bad)
    numbers = [1, 2, 4, 5, 9]
    assert esearch_response("a", numbers, (), partial=(-1, -3)) == \
        b'* ESEARCH (TAG "a") PARTIAL (-1:-3 4:5,9)\r\n'
    assert esearch_response("a", numbers, ("COUNT",), partial=(6, 9)) == \
        b'* ESEARCH (TAG "a") COUNT 5 PARTIAL (6:9 NIL)\r\n'
    assert esearch_response("a", numbers, (), partial=(-6, -9)) == \
        b'* ESEARCH (TAG "a") PARTIAL (-6:-9 NIL)\r\n'


# -- properties -------------------------------------------------------------------------------

FLAGS = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "$Work"]
LEAVES = [Criterion(n) for n in ("ALL", "SEEN", "UNSEEN", "FLAGGED", "DELETED", "NEW", "OLD",
                                 "RECENT", "ANSWERED", "UNDRAFT")] + [
    Criterion("KEYWORD", "$work"), Criterion("LARGER", 60), Criterion("SMALLER", 62),
    Criterion("SUBJECT", "b"), Criterion("BODY", "x"), Sequence(SequenceSet(((2, 4),))),
    Sequence(SequenceSet(((None, 3),)), uid=True)]
keys = st.recursive(st.sampled_from(LEAVES), lambda inner: st.one_of(
    st.builds(Not, inner), st.builds(Or, inner, inner),
    st.lists(inner, min_size=1, max_size=4).map(lambda ks: And(tuple(ks)))), max_leaves=8)
mailboxes = st.lists(st.tuples(st.sets(st.sampled_from(FLAGS)), st.booleans(),
                               st.sampled_from(["a", "b", "ab"]), st.sampled_from(["x", "y"])),
                     max_size=8)


def build(specs: list[tuple[set[str], bool, str, str]]) -> list[ScriptMessage]:
    messages = numbered([message(f"Subject: {subject}", body) for _, _, subject, body in specs])
    for m, (flags, recent, _, _) in zip(messages, specs, strict=True):
        m.flags, m.recent = frozenset(flags), recent
    return messages


@settings(max_examples=200, deadline=None)
@given(keys, keys, mailboxes)
def test_not_or_and_are_set_operations(a: SearchKey, b: SearchKey,
                                       specs: list[tuple[set[str], bool, str, str]]) -> None:
    messages = build(specs)
    ctx = context(messages)

    def matched(key: SearchKey) -> set[int]:
        return {m.seq for m in search(key, messages, ctx)}
    everything = {m.seq for m in messages}
    assert matched(Not(a)) == everything - matched(a)
    assert matched(Or(a, b)) == matched(a) | matched(b)
    assert matched(And((a, b))) == matched(a) & matched(b)
    assert matched(And((b, a))) == matched(a) & matched(b)


# -- speed ------------------------------------------------------------------------------------

class _Flags:
    __slots__ = ("seq", "uid", "flags", "recent", "internal_date", "size", "modseq")

    def __init__(self, seq: int, flags: frozenset[str]) -> None:
        self.seq = self.uid = seq
        self.flags = flags
        self.recent = False
        self.internal_date = NOW
        self.size = 1000
        self.modseq = 1


def test_flag_search_over_100k_messages_is_fast() -> None:
    seen, none = frozenset({"\\Seen"}), frozenset[str]()
    views = [_Flags(i, seen if i % 3 else none) for i in range(1, 100_001)]
    key = key_of("UNSEEN UNDELETED")
    ctx = SearchContext(len(views), len(views), NOW, UTC)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        matches = compile_search(key, ctx)
        found = [v for v in views if matches(v)]  # type: ignore[arg-type]
        best = min(best, time.perf_counter() - start)
    assert len(found) == 33_333
    assert best < 0.05, f"{best * 1000:.1f} ms"


def test_date_key_argument_is_a_date() -> None:
    assert key_of("SINCE 1-Feb-1994") == Criterion("SINCE", date(1994, 2, 1))
