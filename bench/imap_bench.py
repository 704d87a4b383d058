#!/usr/bin/env python3
"""IMAP/POP3 benchmark: postoffice side by side with a private Dovecot, same client, same mail.

Both servers get the same mailbox: MESSAGES messages of about SIZE octets (varied senders,
subjects, dates and body words) APPENDed by the client, then the same operations are timed
on each (ROUNDS runs each, median): SELECT; FETCH 1:* FLAGS / ENVELOPE / BODY.PEEK[HEADER] /
BODYSTRUCTURE; SEARCH FROM / SUBJECT / UNSEEN / SINCE / BODY; STORE +FLAGS and -FLAGS on all;
random BODY.PEEK[] latency; login-select-logout latency; 8 concurrent sessions; POP3 RETR of
every message. The client is a minimal raw IMAP client (literals read by count), so its own
cost stays small next to the servers'.

Then, postoffice only, a 100,000-message mailbox (filled through the store, 2 KB messages):
SELECT, and a reconnecting client's resync with QRESYNC after 20 flag changes and 20 expunges.

Run ``make bench`` (all benchmarks) or ``.venv/bin/python bench/imap_bench.py --help``.
Needs root (Dovecot's private instance runs its mail processes as the dovecot user).
"""

from __future__ import annotations

import argparse
import json
import os
import poplib
import random
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from smtp_accept import po, serving, set_toml_key  # noqa: E402

from postoffice.storage import open_store  # noqa: E402
from postoffice.storage.mailboxes import NewMessage  # noqa: E402
from postoffice.testing.dovecot import PrivateDovecot  # noqa: E402

USER = "bench@example.test"
PASSWORD = "bench-password-not-secret"
SETTLE = 3.0
"""Seconds a started server is left alone before the big mailbox is measured."""
WORDS = ("invoice", "meeting", "report", "holiday", "budget", "release", "lunch", "server",
         "contract", "review", "travel", "update")
_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")


class Client:
    """A raw IMAP client: one command at a time, responses read whole."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=120)
        self.file = self.sock.makefile("rb")
        self.n = 0
        self.file.readline()  # greeting

    def command(self, text: bytes, literal: bytes | None = None) -> bytes:
        self.n += 1
        tag = b"t%d" % self.n
        if literal is None:
            self.sock.sendall(tag + b" " + text + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + text + b" {%d+}\r\n" % len(literal) + literal + b"\r\n")
        out = []
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("closed")
            out.append(line)
            match = _LITERAL.search(line)
            if match:
                out.append(self.file.read(int(match.group(1))))
                continue
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(f"{text[:60]!r}: {line!r}")
                return b"".join(out)

    def close(self) -> None:
        try:
            self.command(b"LOGOUT")
        except (OSError, RuntimeError):
            pass
        self.sock.close()


@contextmanager
def session(host: str, port: int, user: str, password: str, select: bool = True) -> Iterator[Client]:
    client = Client(host, port)
    try:
        client.command(b'LOGIN "%s" "%s"' % (user.encode(), password.encode()))
        if select:
            client.command(b"SELECT INBOX")
        yield client
    finally:
        client.close()


def make_message(i: int, size: int, rng: random.Random) -> bytes:
    sender = f"sender{i % 50}@example{i % 7}.org"
    subject = f"{rng.choice(WORDS)} {rng.choice(WORDS)} number {i}"
    day = 1 + i % 28
    header = (f"From: Sender {i % 50} <{sender}>\r\nTo: {USER}\r\nSubject: {subject}\r\n"
              f"Date: {day:02d} Mar 2026 10:{i % 60:02d}:00 +0000\r\n"
              f"Message-ID: <bench-{i}@example.org>\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode()
    lines = []
    length = len(header)
    while length < size:
        line = " ".join(rng.choice(WORDS) for _ in range(10)) + "\r\n"
        lines.append(line)
        length += len(line)
    return header + "".join(lines).encode()


def timed(fn: Callable[[], object], rounds: int) -> float:
    """Median seconds of `rounds` calls."""
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def measure(name: str, host: str, port: int, pop3_port: int, user: str, password: str,
            messages: list[bytes], rounds: int) -> dict[str, float]:
    """Every figure for one server, in seconds (rates in per second)."""
    r: dict[str, float] = {}
    with session(host, port, user, password, select=False) as c:
        t0 = time.perf_counter()
        for i, m in enumerate(messages):  # a third unread
            flags = b"(\\Seen)" if i % 3 else b"()"
            c.command(b'APPEND INBOX ' + flags + b' "05-Mar-2026 10:00:00 +0000"', m)
        r["append_per_s"] = len(messages) / (time.perf_counter() - t0)
        r["select"] = timed(lambda: c.command(b"SELECT INBOX"), rounds)
        for item in (b"FLAGS", b"ENVELOPE", b"BODY.PEEK[HEADER]", b"BODYSTRUCTURE"):
            c.command(b"FETCH 1:* " + item)  # a first pass builds either side's caches
            key = "fetch_" + item.decode().lower().replace(".peek[header]", "_headers")
            r[key] = timed(lambda item=item: c.command(b"FETCH 1:* " + item), rounds)
        for key, criteria in (("search_from", b"FROM sender7"), ("search_subject", b"SUBJECT budget"),
                              ("search_unseen", b"UNSEEN"), ("search_since", b"SINCE 15-Mar-2026"),
                              ("search_body", b"BODY holiday")):
            c.command(b"SEARCH " + criteria)
            r[key] = timed(lambda criteria=criteria: c.command(b"SEARCH " + criteria), rounds)
        r["store_all"] = timed(lambda: (c.command(b"STORE 1:* +FLAGS.SILENT (\\Flagged)"),
                                        c.command(b"STORE 1:* -FLAGS.SILENT (\\Flagged)")),
                               rounds) / 2
        rng = random.Random(7)
        latencies = []
        for _ in range(200):
            n = rng.randint(1, len(messages))
            t0 = time.perf_counter()
            c.command(b"FETCH %d BODY.PEEK[]" % n)
            latencies.append(time.perf_counter() - t0)
        r["random_body_fetch"] = statistics.median(latencies)

    def login_select_logout() -> None:
        with session(host, port, user, password):
            pass
    r["login_select_logout"] = timed(login_select_logout, max(rounds, 20))

    ops = [0] * 8
    deadline = time.perf_counter() + 5.0

    def worker(k: int) -> None:
        rng = random.Random(k)
        with session(host, port, user, password) as c:
            while time.perf_counter() < deadline:
                c.command(b"FETCH 1:* FLAGS")
                c.command(b"SEARCH UNSEEN")
                c.command(b"FETCH %d BODY.PEEK[]" % rng.randint(1, len(messages)))
                ops[k] += 3
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r["concurrent8_ops_per_s"] = sum(ops) / (time.perf_counter() - t0)

    pop = poplib.POP3(host, pop3_port, timeout=120)
    pop.user(user)
    pop.pass_(password)
    count = pop.stat()[0]
    t0 = time.perf_counter()
    for n in range(1, count + 1):
        pop.retr(n)
    r["pop3_retr_per_s"] = count / (time.perf_counter() - t0)
    pop.quit()
    print(f"  {name}: done", file=sys.stderr)
    return r


def big_mailbox(work: Path, count: int) -> dict[str, float]:
    """postoffice with `count` messages: SELECT and a QRESYNC resync, milliseconds."""
    data = work / "big"
    po(data, "init", "--domain", "example.test", "--ports", "any")
    po(data, "user", "add", USER, "--password-stdin", stdin=PASSWORD + "\n")
    rng = random.Random(1)
    store = open_store(data)
    try:
        for start in range(0, count, 1000):
            batch = []
            for i in range(start, min(count, start + 1000)):
                writer = store.blobs.writer()
                writer.write(make_message(i, 2048, rng))
                batch.append(NewMessage(writer.finish(), ("\\Seen",), time.time()))
            store.append_messages(USER, "INBOX", batch)
    finally:
        store.close()
    out: dict[str, float] = {}
    for start in ("select_first_ms", "select_restart_ms"):
        # A start (the folder was never selected) and a restart; each time the server first
        # settles (its processes start, the index snapshots of large folders are made).
        with serving(data, work / "big.log") as (_proc, _host, _port):
            listeners = json.loads((data / "run" / "listeners.json").read_text())["listeners"]
            host, port = listeners["imap"]["host"], listeners["imap"]["port"]
            time.sleep(SETTLE)
            with session(host, port, USER, PASSWORD, select=False) as c:
                out[start] = 1000 * timed(lambda: c.command(b"SELECT INBOX"), 1)
    with serving(data, work / "big.log") as (_proc, _host, _port):
        listeners = json.loads((data / "run" / "listeners.json").read_text())["listeners"]
        host, port = listeners["imap"]["host"], listeners["imap"]["port"]
        time.sleep(SETTLE)
        with session(host, port, USER, PASSWORD, select=False) as c:
            c.command(b"ENABLE QRESYNC")
            c.command(b"SELECT INBOX")
            out["select_ms"] = 1000 * timed(lambda: c.command(b"SELECT INBOX"), 5)
            reply = c.command(b"SELECT INBOX")
            uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", reply).group(1))  # type: ignore[union-attr]
            modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", reply).group(1))  # type: ignore[union-attr]
            c.command(b"UNSELECT")
            with session(host, port, USER, PASSWORD) as other:
                other.command(b"STORE 1:20 +FLAGS.SILENT (\\Flagged)")
                other.command(b"STORE 100:119 +FLAGS.SILENT (\\Deleted)")
                other.command(b"EXPUNGE")
            resync = b"SELECT INBOX (QRESYNC (%d %d))" % (uidvalidity, modseq)
            t0 = time.perf_counter()
            reply = c.command(resync)
            out["qresync_ms"] = 1000 * (time.perf_counter() - t0)
            out["qresync_vanished"] = float(b"VANISHED (EARLIER)" in reply)
            out["qresync_changed"] = float(reply.count(b"FETCH ("))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--size", type=int, default=10_240)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--big", type=int, default=100_000, help="messages of the big mailbox (0: skip)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="postoffice [server] workers (Dovecot runs a process per session)")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args(argv)
    rng = random.Random(42)
    messages = [make_message(i, args.size, rng) for i in range(args.messages)]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="imap-bench-") as tmp:
        work = Path(tmp)
        with PrivateDovecot(work / "dovecot", users={"bench": PASSWORD}) as dovecot:
            host, port = dovecot.imap_address
            results["dovecot"] = measure("dovecot", host, port, dovecot.pop3_address[1],
                                         "bench", PASSWORD, messages, args.rounds)
        data = work / "postoffice"
        po(data, "init", "--domain", "example.test", "--ports", "any")
        po(data, "user", "add", USER, "--password-stdin", stdin=PASSWORD + "\n")
        set_toml_key(data / "postoffice.toml", "server", "workers", str(args.workers))
        with serving(data, work / "serve.log") as (_proc, _host, _port):
            listeners = json.loads((data / "run" / "listeners.json").read_text())["listeners"]
            results["postoffice"] = measure(
                "postoffice", listeners["imap"]["host"], listeners["imap"]["port"],
                listeners["pop3"]["port"], USER, PASSWORD, messages, args.rounds)
        if args.big:
            results["big"] = big_mailbox(work, args.big)
    report(results, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    d, p = results["dovecot"], results["postoffice"]
    print(f"IMAP/POP3, {args.messages} messages of ~{args.size} octets, median of {args.rounds}")
    print(f"{'operation':28} {'dovecot':>12} {'postoffice':>12} {'ratio':>8}")
    for key in d:
        rate = key.endswith("_per_s")
        dv, pv = d[key], p[key]
        # ratio > 1 means postoffice is slower (time ratio, or inverse rate ratio)
        ratio = dv / pv if rate else pv / dv
        print(f"{key:28} {_figure(dv, rate):>12} {_figure(pv, rate):>12} {ratio:>7.2f}x")
    if "big" in results:
        b = results["big"]
        print(f"{args.big} messages (postoffice): first SELECT after start "
              f"{b['select_first_ms']:.1f} ms, after a restart {b['select_restart_ms']:.1f} ms,"
              f" then SELECT {b['select_ms']:.1f} ms, QRESYNC resync "
              f"{b['qresync_ms']:.1f} ms ({b['qresync_changed']:.0f} changes reported, "
              f"vanished {'yes' if b['qresync_vanished'] else 'no'})")


def _figure(value: float, rate: bool) -> str:
    return f"{value:,.0f}/s" if rate else f"{1000 * value:.2f}ms"


if __name__ == "__main__":
    sys.exit(main())
