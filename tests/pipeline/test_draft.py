import hashlib
from pathlib import Path

from postoffice.pipeline.draft import Draft
from postoffice.pipeline.submit import msa_inspector
from postoffice.proto.smtp.reply import Reply


class MemoryWriter:
    def __init__(self) -> None:
        self.data = bytearray()
        self.aborted = False
        self.finished = False

    def write(self, data: bytes) -> None:
        self.data += data

    def peek(self) -> bytes:
        return bytes(self.data)

    def finish(self, prefix: bytes = b""):  # noqa: ANN201
        self.finished = True
        data = prefix + bytes(self.data)
        self.data[:0] = prefix

        class Pending:
            digest = hashlib.sha256(data).hexdigest()
            size = len(data)
        return Pending()

    def abort(self) -> None:
        self.aborted = True


def inspector(allowed=("bob@example.test",)):  # noqa: ANN001, ANN201
    return msa_inspector(queue_id="QID", hostname="mx.example.test", timestamp=0.0,
                         may_use=lambda a: a.lower() in allowed)


def feed(draft: Draft, data: bytes, step: int) -> None:
    for i in range(0, len(data), step):
        draft.write(data[i:i + step])


def test_mx_draft_streams_behind_trace() -> None:
    w = MemoryWriter()
    d = Draft(w, b"Received: x\r\n")
    feed(d, b"Subject: hi\r\n\r\nbody\r\n", 3)
    assert d.finish() is not None
    assert bytes(w.data) == b"Received: x\r\nSubject: hi\r\n\r\nbody\r\n"


def test_submission_adds_date_and_message_id_when_missing() -> None:
    for step in (1, 7, 1000):
        w = MemoryWriter()
        d = Draft(w, b"Received: x\r\n", inspect=inspector())
        feed(d, b"From: Bob <bob@example.test>\r\nSubject: hi\r\n\r\nbody\r\n", step)
        assert d.finish() is not None
        text = bytes(w.data)
        assert text.startswith(b"Received: x\r\nDate: Thu, 01 Jan 1970 00:00:00 +0000\r\n"
                               b"Message-ID: <QID@mx.example.test>\r\nFrom: Bob")
        assert text.endswith(b"\r\n\r\nbody\r\n")


def test_submission_keeps_existing_date_and_message_id() -> None:
    w = MemoryWriter()
    d = Draft(w, b"", inspect=inspector())
    msg = b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <a@b>\r\nFrom: bob@example.test\r\n\r\nx\r\n"
    d.write(msg)
    assert d.finish() is not None
    assert bytes(w.data) == msg


def test_submission_refuses_missing_invalid_or_foreign_from() -> None:
    cases = {
        b"Subject: no from\r\n\r\nbody\r\n": "no valid From",
        b"From: nonsense\r\n\r\nbody\r\n": "no valid From",
        b"From: a@b.example\r\nFrom: c@d.example\r\n\r\n": "more than one From",
        b"From: Eve <eve@example.test>\r\n\r\nbody\r\n": "may not send as From <eve@example.test>",
    }
    for message, text in cases.items():
        w = MemoryWriter()
        d = Draft(w, b"", inspect=inspector())
        d.write(message)
        assert d.finish() is None
        assert isinstance(d.refusal, Reply)
        assert (d.refusal.code, d.refusal.status) == (550, "5.7.1")
        assert text in d.refusal.text
        assert w.aborted


def test_header_only_message_is_inspected() -> None:
    w = MemoryWriter()
    d = Draft(w, b"", inspect=inspector())
    d.write(b"From: bob@example.test\r\nSubject: s")
    assert d.finish() is not None
    assert bytes(w.data).endswith(b"From: bob@example.test\r\nSubject: s\r\n")


def test_oversized_header_section_is_refused(tmp_path: Path) -> None:
    w = MemoryWriter()
    d = Draft(w, b"", inspect=inspector(), max_header_size=100)
    feed(d, b"X-Long: " + b"a" * 200 + b"\r\n\r\nbody\r\n", 10)
    assert d.finish() is None
    assert d.refusal is not None and d.refusal.code == 552


class FullDiskWriter(MemoryWriter):
    def __init__(self, fail_after: int) -> None:
        super().__init__()
        self.fail_after = fail_after

    def write(self, data: bytes) -> None:
        if len(self.data) + len(data) > self.fail_after:
            raise OSError(28, "No space left on device")
        super().write(data)


def test_full_disk_is_a_temporary_failure_not_a_crash() -> None:
    for inspect in (None, inspector()):
        w = FullDiskWriter(fail_after=40)
        d = Draft(w, b"Received: x\r\n", inspect=inspect)
        feed(d, b"From: bob@example.test\r\n\r\n" + b"body line\r\n" * 20, 9)
        assert d.finish() is None
        assert d.refusal is not None and (d.refusal.code, d.refusal.status) == (452, "4.3.1")
        assert w.aborted


def test_header_fields_are_noted_on_both_paths() -> None:
    message = b"From: bob@example.test\r\nPrecedence: bulk\r\n\r\nbody\r\n"
    for inspect in (None, inspector()):
        d = Draft(MemoryWriter(), b"Received: x\r\n", inspect=inspect)
        feed(d, message, 5)
        assert d.finish() is not None
        assert d.fields == [("From", "bob@example.test"), ("Precedence", "bulk")]


def test_mx_rewrite_drops_fields_claiming_to_be_ours_and_prefix_goes_on_top() -> None:
    from postoffice.auth.results import remove_own_results

    writer = MemoryWriter()
    draft = Draft(writer, b"Received: by mx\r\n", rewrite=lambda s: remove_own_results(s, "mx.example.test"))
    message = (b"Authentication-Results: mx.example.test; dkim=pass header.d=bank.example\r\n"
               b"Authentication-Results: other.example; spf=fail\r\n"
               b"From: a@example.org\r\n\r\nbody\r\n")
    for i in range(0, len(message), 5):
        draft.write(message[i:i + 5])
    assert draft.complete()
    assert draft.content() == (b"Received: by mx\r\nAuthentication-Results: other.example; spf=fail\r\n"
                               b"From: a@example.org\r\n\r\nbody\r\n")
    assert draft.finish(b"Authentication-Results: mx.example.test; spf=none\r\n") is not None
    assert bytes(writer.data).startswith(b"Authentication-Results: mx.example.test; spf=none\r\nReceived: by mx\r\n")
    assert bytes(writer.data).count(b"mx.example.test;") == 1
