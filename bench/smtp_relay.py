#!/usr/bin/env python3
"""Outbound benchmarks: end-to-end relay (accept, queue, DKIM-sign, deliver) and restart.

Part of ``make bench`` (``bench/smtp_accept.py`` runs everything; ``--only relay``,
``--only restart`` or ``--only dkim`` pick a part). Run alone, this script runs
``relay,restart,dkim`` with the same options (``--help``).

**Relay, end to end.** ``smtp-source`` sends MESSAGES x SIZE over SESSIONS sessions, with the
accept case's flags but ``-f bench-sender@example.test -t someone@remote.example``, to

* ``relay-postoffice``: postoffice's MX listener, ``[relay] trusted_networks =
  ["127.0.0.0/8"]`` (so the unauthenticated load may relay) and ``[delivery] smarthost`` = an
  ``smtp-sink`` on another loopback port. Every message is DKIM-signed for example.test with the
  keys ``postoffice init`` made (RSA-2048 and Ed25519: two signatures per message).
  ``relay-postoffice-rsa`` removes the Ed25519 key first (one RSA signature),
  ``relay-postoffice-nodkim`` removes both (no signature; for attribution only).
* ``relay-postfix``: a private Postfix (``PostfixInstance(relay_to=sink)``) relaying to the same
  kind of sink: default Postfix, **no DKIM** (Postfix has no signer of its own).

Rate = messages / (time the last message arrived at the sink - time smtp-source started).
The sink is ``smtp-sink -c``, whose running counter ``mesg=N`` (written and flushed after every
message) is polled every 20 ms. Before the timed load one message goes through the same path to
a preflight ``smtp-sink -D`` on the same port, which keeps it: its DKIM signatures are verified
with dkimpy against the records of ``postoffice domain dns example.test --json`` (the run fails
if they do not verify). Afterwards postoffice's queue must show MESSAGES + 1 delivered items and
nothing else (``postoffice queue ls --json``); Postfix's queue must be empty.

**Restart with a large queue.** ``--restart-messages`` (200,000) messages of ``--restart-size``
bytes for a remote recipient are written into a fresh data directory through the store API
(``open_store(data).accept(batch)``, 1,000 per batch, the path the group committer takes); then

* ``postoffice queue ls --json --limit 1000`` (and ``--status queued``) is timed, 3 runs each;
* ``postoffice serve`` with ``[delivery] paused = true``: seconds until it answers, and its RSS
  (sum of VmRSS over serve and workers) while it holds the queue;
* ``postoffice serve`` with deliveries on and the smarthost sink: seconds from process start to
  the first message arriving at the sink (target <= 5 s), the RSS and VmHWM 10 s later and how
  many messages arrived in those 10 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import smtp_accept as acc

from postoffice.testing.postfix import PostfixInstance, free_port

RELAY_SENDER = "bench-sender@example.test"
RELAY_RECIPIENT = "someone@remote.example"
RELAY_TARGETS = ("relay-postfix", "relay-postoffice", "relay-postoffice-rsa", "relay-postoffice-nodkim")
DEFAULT_RELAY = ("relay-postfix", "relay-postoffice", "relay-postoffice-rsa")
POLL = 0.02
LABELS = {
    "relay-postfix": "Postfix relay -> sink (no DKIM)",
    "relay-postoffice": "postoffice relay -> sink (RSA+Ed25519)",
    "relay-postoffice-rsa": "postoffice relay -> sink (RSA only)",
    "relay-postoffice-nodkim": "postoffice relay -> sink (no DKIM)",
}

Result = dict[str, Any]
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------- helpers
def machine_busy_seconds() -> float:
    """CPU seconds spent not idle, over all CPUs, since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLK_TCK


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its descendants, including the descendants
    that already exited and were reaped (cutime/cstime), e.g. Postfix's short-lived daemons."""
    total = 0
    for p in [pid, *acc.descendants(pid)]:
        fields = acc._stat_fields(p)
        if fields is not None:
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / CLK_TCK


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Sink:
    """``smtp-sink -c`` on host:port (optionally ``-D dump``), with its running message count."""

    def __init__(self, work: Path, port: int, name: str, dump: Path | None = None) -> None:
        self.host, self.port = "127.0.0.1", port
        self.out = work / f"{name}.out"
        self.dump = dump
        cmd = [acc.SMTP_SINK, "-c"]
        if dump is not None:
            cmd += ["-D", str(dump)]
        if os.geteuid() == 0:
            cmd += ["-u", "postfix"]
        self.cmd = [*cmd, f"{self.host}:{port}", "1000"]
        self.name = name
        self.pid = 0

    @contextlib.contextmanager
    def running(self) -> Iterator[Sink]:
        with open(self.out, "wb") as out, acc.started(self.cmd, self.name, stdout=out,
                                                      stderr=subprocess.STDOUT) as proc:
            acc.wait_banner(self.host, self.port, 30, proc)
            self.pid = proc.pid
            yield self

    def counters(self) -> dict[str, int]:
        """The last ``sess=N quit=N mesg=N`` line: sessions, QUITs, messages so far."""
        try:
            with open(self.out, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 256))
                tail = f.read()
        except OSError:
            return {}
        lines = re.findall(rb"sess=(\d+) quit=(\d+) mesg=(\d+)", tail)
        return dict(zip(("sessions", "quits", "messages"), map(int, lines[-1]), strict=True)) if lines else {}

    def count(self) -> int:
        """Messages received so far."""
        return self.counters().get("messages", 0)

    def wait_count(self, n: int, deadline: float) -> tuple[int, float | None]:
        """Poll until ``n`` messages arrived or ``deadline`` (monotonic); (count, when reached)."""
        size = -1
        count = 0
        while True:
            with contextlib.suppress(OSError):
                new = self.out.stat().st_size
                if new != size:
                    size, count = new, self.count()
                    if count >= n:
                        return count, time.monotonic()
            if time.monotonic() > deadline:
                return count, None
            time.sleep(POLL)


def send_one(args: argparse.Namespace, host: str, port: int, work: Path) -> None:
    """One message with the load's flags (smtp-source -m 1), for the preflight."""
    cmd = [acc.SMTP_SOURCE, "-s", "1", "-m", "1", "-l", str(args.size), "-d", "-M", acc.CLIENT_NAME,
           "-f", RELAY_SENDER, "-t", RELAY_RECIPIENT, f"{host}:{port}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or proc.stderr.strip():
        raise RuntimeError(f"preflight smtp-source failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")


def dumped_message(dump: Path) -> bytes:
    """The message in an ``smtp-sink -D`` file: without the sink's X- lines, with CRLF."""
    lines = dump.read_bytes().split(b"\n")
    while lines and lines[0].startswith(b"X-"):
        lines.pop(0)
    return b"\r\n".join(lines)


def verify_dkim(message: bytes, data: Path) -> list[str]:
    """Verify every DKIM-Signature with dkimpy; the algorithms that verified (raises if one fails)."""
    import dkim

    records = {r["name"].rstrip(".").lower(): r["value"]
               for r in json.loads(acc.po(data, "domain", "dns", "example.test", "--json")) if r["type"] == "TXT"}

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return records.get(name.decode().rstrip(".").lower(), "").encode()

    d = dkim.DKIM(message)
    signatures = [f for f in d.headers if f[0].lower() == b"dkim-signature"]
    verified = []
    for i, (_, value) in enumerate(signatures):
        algorithm = re.search(rb"a=\s*([\w-]+)", value)
        name = algorithm.group(1).decode() if algorithm else "?"
        if not dkim.DKIM(message).verify(idx=i, dnsfunc=dns):
            raise RuntimeError(f"DKIM signature {i} ({name}) does not verify")
        verified.append(name)
    return verified


def queue_counts(data: Path, expected: int) -> dict[str, int]:
    """Items per status in postoffice's queue (``queue ls --json``)."""
    out = {}
    for status in ("delivered", "queued", "deferred", "failed", "held"):
        limit = expected + 1000 if status == "delivered" else 1000
        out[status] = len(json.loads(acc.po(data, "queue", "ls", "--status", status, "--limit", str(limit), "--json")))
    return out


def drop_keys(data: Path, algorithms: set[str]) -> None:
    """Remove the sending domain's DKIM keys of these algorithms (selector suffix r/e)."""
    from postoffice.auth.dkim.keys import parse_selector

    for pem in (data / "dkim" / "example.test").glob("*.pem"):
        parsed = parse_selector(pem.stem)
        if parsed is not None and parsed.algorithm in algorithms:
            pem.unlink()


@contextlib.contextmanager
def py_spy(args: argparse.Namespace, pid: int, name: str, seconds: float) -> Iterator[None]:
    """With ``--py-spy DIR``: sample the server (and its workers) for the run, raw format."""
    if not args.py_spy:
        yield
        return
    exe = Path(sys.executable).parent / "py-spy"
    out = Path(args.py_spy) / f"{name}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(exe), "record", "-p", str(pid), "--subprocesses", "--threads", "--idle", "-f", "raw",
           "-r", "50", "-o", str(out), "-d", str(max(1, int(seconds)))]
    with acc.started(cmd, "py-spy", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        yield
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT, not on SIGTERM
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(60)


# ------------------------------------------------------------------------ relay
def relay_load_cmd(args: argparse.Namespace, host: str, port: int) -> list[str]:
    cmd = acc.smtp_source_cmd(args, host, port)
    i = cmd.index("-f")
    cmd[i + 1] = RELAY_SENDER
    cmd[cmd.index("-t") + 1] = RELAY_RECIPIENT
    return cmd


def timed_relay(args: argparse.Namespace, host: str, port: int, sink: Sink, work: Path,
                server_pid: int) -> Result:
    """smtp-source to host:port, then wait for every message at the sink."""
    busy0, cpu0, sink0 = machine_busy_seconds(), tree_cpu_seconds(server_pid), tree_cpu_seconds(sink.pid)
    source0 = children_cpu_seconds()
    t0 = time.monotonic()
    load = acc.run_load(args, host, port, work, cmd=relay_load_cmd(args, host, port))
    source_cpu = children_cpu_seconds() - source0  # smtp-source, reaped by run_load
    at_accept_end = sink.count()
    count, reached = sink.wait_count(args.messages, t0 + args.timeout)
    end = reached if reached is not None else time.monotonic()
    busy = machine_busy_seconds() - busy0
    server_cpu = tree_cpu_seconds(server_pid) - cpu0
    sink_cpu = tree_cpu_seconds(sink.pid) - sink0
    result: Result = {
        "accept_seconds": load["seconds"],
        "accept_rate": round(args.messages / load["seconds"], 1) if load["seconds"] else None,
        "delivered_when_accept_ended": at_accept_end,
        "delivered": count,
        "seconds": round(end - t0, 3),
        "machine_cpu_seconds": round(busy, 1),
        "server_cpu_seconds": round(server_cpu, 1),
        "server_cpu_us_per_message": round(server_cpu * 1e6 / args.messages),
        "smtp_source_cpu_seconds": round(source_cpu, 1),
        "sink_cpu_seconds": round(sink_cpu, 1),
        # CPU the machine spent on anything else (other users of a shared machine, kernel
        # threads): a large figure means the run was disturbed.
        "other_cpu_seconds": round(busy - server_cpu - source_cpu - sink_cpu, 1),
    }
    # Sessions the sink saw end by the last message (a peer that caches connections, like
    # Postfix, still holds some open then; postoffice closes each after its batch).
    result["sink_sessions_closed"] = sink.counters().get("sessions")
    if reached is not None:
        result["rate"] = round(args.messages / (reached - t0), 1)
    else:
        result["error"] = f"{count} of {args.messages} messages at the sink after {args.timeout:.0f}s"
    if "error" in load:
        result["error"] = load["error"]
    return result


def preflight(args: argparse.Namespace, host: str, port: int, work: Path, sink_port: int) -> bytes:
    """One message through the relay to a dumping sink on ``sink_port``; returns it as received."""
    dump = work / "preflight.eml"
    sink = Sink(work, sink_port, "preflight-sink", dump=dump)
    with sink.running():
        send_one(args, host, port, work)
        count, _ = sink.wait_count(1, time.monotonic() + 60)
        time.sleep(0.2)
    if count < 1 or not dump.exists():
        raise RuntimeError("preflight message did not arrive at the sink within 60 s")
    return dumped_message(dump)


def bench_relay_postoffice(args: argparse.Namespace, work: Path, variant: str) -> Result:
    work.chmod(0o777)  # smtp-sink (user postfix) writes the preflight dump here
    data = work / "data"
    sink_port = free_port()
    acc.po(data, "init", "--domain", "example.test", "--ports", "any")
    toml = data / "postoffice.toml"
    acc.set_toml_key(toml, "server", "workers", str(args.relay_workers))
    acc.set_toml_key(toml, "relay", "trusted_networks", '["127.0.0.0/8"]')
    acc.set_toml_key(toml, "delivery", "smarthost", f'"127.0.0.1:{sink_port}"')
    acc.set_toml_key(toml, "delivery", "processes", str(args.delivery_processes))
    if variant == "rsa":
        drop_keys(data, {"ed25519-sha256"})
    elif variant == "nodkim":
        drop_keys(data, {"rsa-sha256", "ed25519-sha256"})
    with acc.serving(data, work / "serve.log") as (proc, host, port):
        message = preflight(args, host, port, work, sink_port)
        signatures = verify_dkim(message, data) if variant != "nodkim" else []
        expected = {"both": ["rsa-sha256", "ed25519-sha256"], "rsa": ["rsa-sha256"], "nodkim": []}[variant]
        if sorted(signatures) != sorted(expected):
            raise RuntimeError(f"preflight message has DKIM signatures {signatures}, expected {expected}")
        pids = [proc.pid, *acc.descendants(proc.pid)]
        with Sink(work, sink_port, "sink").running() as sink, \
                py_spy(args, proc.pid, f"relay-postoffice-{variant}", args.timeout):
            result = timed_relay(args, host, port, sink, work, proc.pid)
        result["dkim_verified"] = signatures
        result["processes"] = len(pids)
        result["peak_rss_bytes"] = acc.tree_kb(proc.pid, "VmHWM") * 1024
    result["queue"] = queue_counts(data, args.messages)
    if result["queue"]["delivered"] != args.messages + 1 or any(
            result["queue"][s] for s in ("queued", "deferred", "failed", "held")):
        result.setdefault("error", f"postoffice queue: {result['queue']} (expected {args.messages + 1} delivered)")
    if "error" in result:
        result["log_tail"] = (work / "serve.log").read_text(errors="replace")[-1500:]
    return result


def bench_relay_postfix(args: argparse.Namespace, work: Path) -> Result:
    work.chmod(0o777)
    sink_port = free_port()
    with PostfixInstance(relay_to=("127.0.0.1", sink_port), base_dir=work) as pf:
        preflight(args, pf.host, pf.port, work, sink_port)
        with Sink(work, sink_port, "sink").running() as sink:
            assert pf.master_pid is not None
            result = timed_relay(args, pf.host, pf.port, sink, work, pf.master_pid)
        result["queue_empty"] = pf.wait_for_queue_empty(60)
        result["queues"] = pf.queue_counts()
        result["peak_rss_bytes"] = sum(acc.status_kb(p, "VmHWM") for p in pf.pids()) * 1024
        if not result["queue_empty"]:
            result.setdefault("error", f"Postfix queue not empty: {result['queues']}")
        if "error" in result:
            result["log_tail"] = pf.log_tail(10)
    return result


def run_relay(args: argparse.Namespace, name: str, work: Path) -> Result:
    if name == "relay-postfix":
        return bench_relay_postfix(args, work)
    variant = {"relay-postoffice": "both", "relay-postoffice-rsa": "rsa", "relay-postoffice-nodkim": "nodkim"}[name]
    return bench_relay_postoffice(args, work, variant)


# ---------------------------------------------------------------------- restart
def message_content(i: int, size: int, now: float) -> bytes:
    """A message like the relay load's (Received, smtp-source-like headers, text body)."""
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(now))
    header = (
        f"Received: from bench-client.example.net (localhost [127.0.0.1])\r\n"
        f"\tby mail.example.test with ESMTP id restart{i}; {date}\r\n"
        f"From: <{RELAY_SENDER}>\r\nTo: <{RELAY_RECIPIENT}>\r\nDate: {date}\r\n"
        f"Message-Id: <restart.{i}.{int(now)}@example.test>\r\n\r\n"
    ).encode()
    line = b"X" * 78 + b"\r\n"
    body = line * (max(0, size - len(header)) // len(line) + 1)
    return header + body[: max(2, size - len(header))].rstrip(b"\r\n") + b"\r\n"


def fill_queue(data: Path, count: int, size: int, batch: int = 1000) -> float:
    """``count`` queued remote items written through the store API; returns seconds taken."""
    from postoffice.message.envelope import Recipient
    from postoffice.storage import Acceptance, StoredMessage, open_store
    from postoffice.storage.ids import new_message_id

    t0 = time.monotonic()
    store = open_store(data)
    try:
        for start in range(0, count, batch):
            items = []
            for i in range(start, min(count, start + batch)):
                now = time.time()
                writer = store.blobs.writer()
                writer.write(message_content(i, size, now))
                pending = writer.finish()
                message = StoredMessage(
                    id=new_message_id(now), blob=pending.digest, size=pending.size, received_at=now,
                    source="smtp", mail_from=RELAY_SENDER, client_ip="127.0.0.1",
                    helo=acc.CLIENT_NAME, auth_identity=None,
                )
                items.append((pending, Acceptance(message=message, local=(),
                                                  relay=(Recipient(RELAY_RECIPIENT),))))
            store.accept(items)
    finally:
        store.close()
    return time.monotonic() - t0


def time_command(data: Path, *argv: str, runs: int = 3) -> Result:
    times, rows = [], 0
    for _ in range(runs):
        t0 = time.monotonic()
        out = acc.po(data, *argv)
        times.append(time.monotonic() - t0)
        rows = len(json.loads(out))
    return {"command": "postoffice " + " ".join(argv), "seconds": [round(t, 3) for t in times],
            "median_seconds": round(statistics.median(times), 3), "rows": rows}


def bench_restart(args: argparse.Namespace, work: Path) -> Result:
    work.chmod(0o777)
    data = work / "data"
    sink_port = free_port()
    n = args.restart_messages
    acc.po(data, "init", "--domain", "example.test", "--ports", "any")
    toml = data / "postoffice.toml"
    acc.set_toml_key(toml, "server", "workers", str(args.relay_workers))
    acc.set_toml_key(toml, "delivery", "processes", str(args.delivery_processes))
    acc.set_toml_key(toml, "delivery", "smarthost", f'"127.0.0.1:{sink_port}"')
    acc.set_toml_key(toml, "delivery", "paused", "true")
    print(f"  filling the queue with {n} messages of {args.restart_size} B ...", flush=True)
    result: Result = {"messages": n, "size": args.restart_size}
    result["fill_seconds"] = round(fill_queue(data, n, args.restart_size), 1)
    result["data_dir_bytes"] = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    result["queue_ls"] = [
        time_command(data, "queue", "ls", "--json", "--limit", "1000"),
        time_command(data, "queue", "ls", "--json", "--status", "queued", "--limit", "1000"),
        time_command(data, "queue", "ls", "--json", "--domain", "remote.example", "--limit", "1000"),
    ]
    # Holding the queue, paused: how long until it answers, and what it holds in memory.
    t0 = time.monotonic()
    with acc.serving(data, work / "serve-paused.log") as (proc, _host, _port):
        result["paused_ready_seconds"] = round(time.monotonic() - t0, 2)
        time.sleep(3.0)
        result["paused_rss_bytes"] = acc.tree_kb(proc.pid, "VmRSS") * 1024
        result["paused_processes"] = 1 + len(acc.descendants(proc.pid))
    # Delivering: from process start to the first message at the sink.
    acc.set_toml_key(toml, "delivery", "paused", "false")
    with Sink(work, sink_port, "sink").running() as sink:
        t0 = time.monotonic()
        with acc.serving(data, work / "serve.log") as (proc, _host, _port):
            result["ready_seconds"] = round(time.monotonic() - t0, 2)
            count, reached = sink.wait_count(1, t0 + 120)
            if reached is None:
                result["error"] = "no delivery within 120 s of the restart"
            else:
                result["first_delivery_seconds"] = round(reached - t0, 2)
                time.sleep(max(0.0, reached + 10.0 - time.monotonic()))
                result["delivered_10s_after_first"] = sink.count()
                result["rss_bytes"] = acc.tree_kb(proc.pid, "VmRSS") * 1024
                result["peak_rss_bytes"] = acc.tree_kb(proc.pid, "VmHWM") * 1024
                result["processes"] = 1 + len(acc.descendants(proc.pid))
            t_stop = time.monotonic()
        result["stop_seconds"] = round(time.monotonic() - t_stop, 2)
    if "error" in result:
        result["log_tail"] = (work / "serve.log").read_text(errors="replace")[-1500:]
    return result


# ------------------------------------------------------------------------- dkim
def bench_dkim(args: argparse.Namespace) -> Result:
    script = Path(__file__).with_name("dkim_speed.py")
    proc = subprocess.run([sys.executable, str(script), "--json", "--size", str(args.size)],
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        return {"error": f"dkim_speed.py failed ({proc.returncode}): {proc.stderr.strip()[-800:]}"}
    return json.loads(proc.stdout)


# ----------------------------------------------------------------------- report
def print_relay(report: Result) -> None:
    relay = [s for s in report["results"] if s["target"] in RELAY_TARGETS]
    if relay:
        p = report["params"]
        print()
        print(f"relay, end to end: {p['messages']} x {p['size']} B, {p['sessions']} sessions, "
              f"-f {RELAY_SENDER} -t {RELAY_RECIPIENT}; smarthost/relayhost = smtp-sink")
        print(f"{'target':42} {'delivered':>12} {'accept s':>9} {'e2e s':>8} {'msg/s':>7} "
              f"{'srv CPU us/msg':>14} {'other CPU s':>11}  notes")
        for s in relay:
            for i, r in enumerate(s["rounds"]):
                name = LABELS[s["target"]] + (f" #{i + 1}" if len(s["rounds"]) > 1 else "")
                note = (r.get("error") or "").strip().splitlines()
                note = note[0][:70] if note else ""
                us = r.get("server_cpu_us_per_message")
                print(f"{name:42} {r.get('delivered', '-'):>12} {r.get('accept_seconds', 0):>9.2f} "
                      f"{r.get('seconds', 0):>8.2f} {r.get('rate') or 0:>7.0f} "
                      f"{us if us is not None else '-':>14} {r.get('other_cpu_seconds', 0):>11.1f}  {note}")
            if len(s["rounds"]) > 1:
                print(f"{'  median':42} {'':>12} {'':>9} {'':>8} {s['rate_median'] or 0:>7.0f}")
        for key, label in (("ratio_relay", "RSA+Ed25519"), ("ratio_relay_rsa", "RSA only"),
                           ("ratio_relay_nodkim", "no DKIM")):
            if report.get(key) is not None:
                print(f"postoffice ({label}) / Postfix (no DKIM), end to end: {report[key]:.2f}x (target >= 1.5)")
    restart = report.get("restart")
    if restart:
        print()
        if "error" in restart and "first_delivery_seconds" not in restart:
            print(f"restart: {restart['error']}")
        else:
            print(f"restart with {restart['messages']} queued messages of {restart['size']} B "
                  f"(filled in {restart['fill_seconds']} s, data dir {acc.human(restart['data_dir_bytes'], 'B')}):")
            print(f"  paused: answering after {restart.get('paused_ready_seconds')} s, RSS holding the queue "
                  f"{acc.human(restart.get('paused_rss_bytes'), 'B')} ({restart.get('paused_processes')} processes)")
            print(f"  delivering: ready after {restart.get('ready_seconds')} s, first delivery after "
                  f"{restart.get('first_delivery_seconds')} s (target <= 5 s); 10 s later "
                  f"{restart.get('delivered_10s_after_first')} delivered, RSS {acc.human(restart.get('rss_bytes'), 'B')}, "
                  f"VmHWM {acc.human(restart.get('peak_rss_bytes'), 'B')}; stop took {restart.get('stop_seconds')} s")
            for q in restart.get("queue_ls", []):
                print(f"  {q['command']}: {q['median_seconds']} s median of {q['seconds']} ({q['rows']} rows)")
    dkim = report.get("dkim")
    if dkim:
        print()
        if "error" in dkim:
            print(f"dkim: {dkim['error']}")
        else:
            print(f"DKIM per second, {dkim['size']} B message, relaxed/relaxed, one core (bench/dkim_speed.py):")
            print(f"  {'algorithm':<16}{'operation':<10}{'postoffice/s':>14}{'dkimpy/s':>12}{'ratio':>8}")
            for algorithm, figures in dkim["results"].items():
                for operation in ("sign", "verify"):
                    ours, theirs = figures[f"postoffice {operation}"], figures[f"dkimpy {operation}"]
                    print(f"  {algorithm:<16}{operation:<10}{ours:>14,.0f}{theirs:>12,.0f}{ours / theirs:>7.1f}x")


if __name__ == "__main__":
    sys.exit(acc.main(["--only", "relay,restart,dkim", *sys.argv[1:]]))
