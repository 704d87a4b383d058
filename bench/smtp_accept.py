#!/usr/bin/env python3
"""SMTP accept benchmark: postoffice's MX against a private Postfix and Postfix's smtp-sink.

One load generator for every target: Postfix's own ``smtp-source`` with the same flags,

    smtp-source -s SESSIONS -m MESSAGES -l SIZE -d -M bench-client.example.net \
                -f bench-sender@example.net -t bench@example.test HOST:PORT

``-d`` keeps each of the SESSIONS connections open and sends the next message over it (as a
relaying MTA with connection caching does), so the figure is the per-message accept path (MAIL,
RCPT, DATA, durable commit, 250), not TCP setup. ``--new-connection-per-message`` drops ``-d``
for every target.

Targets (each started fresh, measured, then stopped by PID even on error or Ctrl-C):

* ``postoffice``: ``postoffice init --ports any`` in a temp dir, a mailbox bench@example.test,
  ``[server] workers = N``, ``postoffice serve``; the count is verified with
  ``postoffice mailbox ls bench@example.test --json``. Also measured: peak RSS of the server
  (sum of VmHWM over the serve process and its workers) and the RSS held by 1,000 idle
  connections (opened before the load run, each having read the 220 banner).
* ``postfix``: a private Postfix (postoffice.testing.postfix) that puts every message in its hold
  queue, with Postfix's default durability (fsync before 250); verified by counting hold files.
* ``sink``: ``smtp-sink``, which stores nothing: the ceiling of the load generator and loopback.

Run ``make bench`` or ``.venv/bin/python bench/smtp_accept.py --help``. Needs root (Postfix).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from postoffice.testing.postfix import PostfixInstance, free_port

SMTP_SOURCE = "/usr/sbin/smtp-source"
SMTP_SINK = "/usr/sbin/smtp-sink"
SENDER = "bench-sender@example.net"
RECIPIENT = "bench@example.test"
CLIENT_NAME = "bench-client.example.net"
TARGETS = ("sink", "postfix", "postoffice")
RELAY_TARGETS = ("relay-postfix", "relay-postoffice", "relay-postoffice-rsa", "relay-postoffice-nodkim")
PARTS = ("restart", "dkim")
GROUPS = {
    "accept": TARGETS,
    "relay": ("relay-postfix", "relay-postoffice", "relay-postoffice-rsa"),  # bench/smtp_relay.py
    "all": (*TARGETS, "relay-postfix", "relay-postoffice", "relay-postoffice-rsa", *PARTS),
}
TMP = "/tmp"

Result = dict[str, Any]


# ------------------------------------------------------------------ processes
def _stat_fields(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()


def alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != b"Z"


def descendants(pid: int) -> list[int]:
    """All descendants of ``pid`` (children, grandchildren...) from /proc."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(int(entry))) is not None:
            parent_of[int(entry)] = int(fields[1])
    out, frontier = [], [pid]
    while frontier:
        kids = [p for p, pp in parent_of.items() if pp in frontier]
        out.extend(kids)
        frontier = kids
    return out


def status_kb(pid: int, key: str) -> int:
    """A ``VmRSS``/``VmHWM`` line of /proc/PID/status in kB (0 if the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_kb(pid: int, key: str) -> int:
    return sum(status_kb(p, key) for p in [pid, *descendants(pid)])


def stop_process(proc: subprocess.Popen[bytes], name: str, grace: float = 40.0) -> None:
    """SIGTERM ``proc``, wait, then SIGKILL it and the descendants it had, all by PID."""
    if proc.poll() is not None:
        return
    family = descendants(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        print(f"  {name} (pid {proc.pid}) ignored SIGTERM for {grace:.0f}s; killing", file=sys.stderr)
        proc.kill()
        proc.wait(10)
    deadline = time.monotonic() + 10
    while (left := [p for p in family if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def started(cmd: list[str], name: str, **kw: Any) -> Iterator[subprocess.Popen[bytes]]:
    """Popen in its own session (so Ctrl-C reaches only us) and always stopped afterwards."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True, **kw)
    try:
        yield proc
    finally:
        stop_process(proc, name)


def wait_banner(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            with socket.create_connection((host, port), timeout=2) as s:
                s.settimeout(5)
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return
        time.sleep(0.1)
    raise TimeoutError(f"no SMTP banner on {host}:{port} within {timeout:.0f}s")


# ------------------------------------------------------------------- machine
def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    dev, fstype = "?", "?"
    with contextlib.suppress(OSError), open("/proc/mounts") as f:
        best = ""
        for line in f:
            d, mnt, fs = line.split()[:3]
            if TMP.startswith(mnt) and len(mnt) > len(best):
                best, dev, fstype = mnt, d, fs
    rotational = "?"
    block = Path("/sys/block") / re.sub(r"p?\d+$", "", Path(dev).name) / "queue" / "rotational"
    with contextlib.suppress(OSError):
        rotational = "rotational=" + block.read_text().strip()
    postfix_version = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        postfix_version = subprocess.run(
            ["postconf", "-d", "-h", "mail_version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "tmp_fs": f"{dev} ({fstype}, {rotational})",
        "python": platform.python_version(),
        "postfix": postfix_version,
    }


def postfix_master_running() -> bool:
    """Is the *system* Postfix (default config, /var/spool/postfix) running?"""
    with contextlib.suppress(OSError, ValueError):
        return alive(int(Path("/var/spool/postfix/pid/master.pid").read_text().strip()))
    return False


def ensure_postfix_tools() -> None:
    """Install the postfix package (smtp-source, smtp-sink) non-interactively if it is missing."""
    if Path(SMTP_SOURCE).exists() and Path(SMTP_SINK).exists():
        return
    if os.geteuid() != 0:
        sys.exit(f"{SMTP_SOURCE} is missing; install the postfix package (needs root)")
    print("installing postfix (debconf: No configuration) for smtp-source/smtp-sink ...")
    was_running = postfix_master_running()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(
        ["debconf-set-selections"],
        input="postfix postfix/main_mailer_type select No configuration\n",
        text=True, check=True, timeout=60,
    )
    subprocess.run(["apt-get", "install", "-y", "-q", "postfix"], env=env, check=True, timeout=900)
    if not was_running and postfix_master_running():
        subprocess.run(["postfix", "stop"], check=False, timeout=60)
    if not Path(SMTP_SOURCE).exists():
        sys.exit(f"{SMTP_SOURCE} still missing after installing postfix")


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))  # root only
            return
        needed = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def busy_cores(seconds: float = 2.0) -> float:
    """Average number of busy CPUs over ``seconds`` (/proc/stat)."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:8]]
        return sum(fields), fields[3] + fields[4]

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return (os.cpu_count() or 1) * (1 - (idle1 - idle0) / max(1, total1 - total0))


def wait_quiet(max_wait: float, threshold: float = 0.3) -> float:
    """Wait (at most ``max_wait`` s) until the machine is nearly idle; the busy CPUs last seen."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = busy_cores()
        if busy < threshold or time.monotonic() > deadline:
            return busy


# ------------------------------------------------------------------ load run
def smtp_source_cmd(args: argparse.Namespace, host: str, port: int) -> list[str]:
    cmd = [SMTP_SOURCE, "-s", str(args.sessions), "-m", str(args.messages), "-l", str(args.size)]
    if not args.new_connection_per_message:
        cmd.append("-d")
    return [*cmd, "-M", CLIENT_NAME, "-f", SENDER, "-t", RECIPIENT, f"{host}:{port}"]


def run_load(args: argparse.Namespace, host: str, port: int, work: Path,
             cmd: list[str] | None = None) -> Result:
    """Run smtp-source once against host:port; wall time, exit status and error tail."""
    cmd = cmd or smtp_source_cmd(args, host, port)
    err_path = work / "smtp-source.err"
    with open(err_path, "wb") as err:
        t0 = time.monotonic()
        with started(cmd, "smtp-source", stdout=subprocess.DEVNULL, stderr=err) as proc:
            try:
                rc: int | None = proc.wait(args.timeout)
            except subprocess.TimeoutExpired:
                rc = None
        seconds = time.monotonic() - t0
    tail = err_path.read_text(errors="replace").strip().splitlines()[-5:]
    out: Result = {"seconds": round(seconds, 3), "smtp_source_rc": rc}
    if rc is None:
        out["error"] = f"smtp-source did not finish within {args.timeout:.0f}s (killed)"
    elif rc != 0 or tail:
        out["error"] = f"smtp-source exit {rc}: " + " | ".join(tail)
    return out


def finish(result: Result, requested: int, stored: int | None) -> Result:
    result["requested"] = requested
    result["stored"] = stored
    if stored is not None and result["seconds"] > 0:
        result["rate"] = round(stored / result["seconds"], 1)
    if stored != requested:
        result.setdefault("error", f"stored {stored} of {requested} messages")
    return result


# ------------------------------------------------------------------- targets
def bench_sink(args: argparse.Namespace, work: Path) -> Result:
    host, port = "127.0.0.1", free_port()
    counter = work / "sink.out"
    cmd = [SMTP_SINK, "-c"]
    if os.geteuid() == 0:
        cmd += ["-u", "postfix"]
    cmd += [f"{host}:{port}", "1000"]
    with open(counter, "wb") as out, started(cmd, "smtp-sink", stdout=out, stderr=subprocess.STDOUT) as proc:
        wait_banner(host, port, 30, proc)
        result = run_load(args, host, port, work)
        time.sleep(0.2)
    # -c writes "sess=N quit=N mesg=N\r" after every message and session.
    counts = re.findall(rb"mesg=(\d+)", counter.read_bytes()[-4096:])
    return finish(result, args.messages, int(counts[-1]) if counts else None)


def bench_postfix(args: argparse.Namespace, work: Path) -> Result:
    with PostfixInstance(hold=True, base_dir=work) as pf:
        result = run_load(args, pf.host, pf.port, work)
        stored = pf.wait_for_queue_count("hold", args.messages, timeout=30)
        result["peak_rss_bytes"] = sum(status_kb(p, "VmHWM") for p in pf.pids()) * 1024
        result["queues"] = pf.queue_counts()
        if stored != args.messages:
            result["log_tail"] = pf.log_tail(10)
    return finish(result, args.messages, stored)


def postoffice_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "postoffice"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "postoffice"]


def po(data: Path, *argv: str, stdin: str | None = None, timeout: float = 300) -> str:
    proc = subprocess.run(
        [*postoffice_cmd(), *argv, "--data", str(data)],
        input=stdin, capture_output=True, text=True, timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"postoffice {' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def set_toml_key(path: Path, section: str, key: str, value: str) -> None:
    """Set ``key = value`` in ``[section]`` of a TOML file, keeping its comments."""
    lines = path.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == f"[{section}]"), None)
    if start is None:
        lines += ["", f"[{section}]", f"{key} = {value}"]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        for i in range(start + 1, end):
            if re.match(rf"\s*{re.escape(key)}\s*=", lines[i]):
                lines[i] = f"{key} = {value}"
                break
        else:
            lines.insert(start + 1, f"{key} = {value}")
    path.write_text("\n".join(lines) + "\n")


def idle_connections(host: str, port: int, count: int, server_pid: int) -> Result:
    """RSS growth of the server while ``count`` connections sit idle after reading the banner.

    Connections come from 127.0.0.10, .11, ... (25 per address) so that a per-IP connection
    limit does not refuse them; the server's defaults are left as they are.
    """
    socks: list[socket.socket] = []
    refused = 0
    deadline = time.monotonic() + 120
    try:
        for _ in range(20):  # warm-up: let the server allocate what a first connection needs
            with socket.create_connection((host, port), timeout=10) as s:
                s.recv(512)
        time.sleep(1.0)
        before = tree_kb(server_pid, "VmRSS")
        for i in range(count):
            if time.monotonic() > deadline:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.settimeout(10)
            banner = b""
            try:
                s.bind((f"127.0.0.{10 + i // 25}", 0))
                s.connect((host, port))
                while not banner.endswith(b"\n") and len(banner) < 4096:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    banner += chunk
            except OSError:
                pass
            if not banner.startswith(b"220"):
                refused += 1
        time.sleep(2.0)
        after = 0
        for _ in range(3):  # the largest of a few samples, in case a worker is mid-collection
            after = max(after, tree_kb(server_pid, "VmRSS"))
            time.sleep(0.2)
    finally:
        for s in socks:
            s.close()
    held = len(socks) - refused
    return {
        "connections": held,
        "refused": refused,
        "rss_before_bytes": before * 1024,
        "rss_after_bytes": after * 1024,
        "bytes_per_connection": round((after - before) * 1024 / held) if held else None,
    }


@contextlib.contextmanager
def serving(data: Path, log_path: Path, timeout: float = 60.0) -> Iterator[tuple[subprocess.Popen[bytes], str, int]]:
    """``postoffice serve`` on ``data`` until the MX listener answers; (process, host, port).
    Stopped by PID (SIGTERM, then SIGKILL) when the block ends."""
    listeners = data / "run" / "listeners.json"
    listeners.unlink(missing_ok=True)
    with open(log_path, "wb") as log, started(
        [*postoffice_cmd(), "serve", "--data", str(data)], "postoffice serve",
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        deadline = time.monotonic() + timeout
        while not listeners.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"postoffice serve did not start (exit {proc.returncode}): {tail}")
            time.sleep(0.02)
        time.sleep(0.1)  # the file may be half-written at the instant it appears
        smtp = json.loads(listeners.read_text())["listeners"]["smtp"]
        host, port = str(smtp["host"]), int(smtp["port"])
        wait_banner(host, port, 30, proc)
        yield proc, host, port


def bench_postoffice(args: argparse.Namespace, work: Path, measure_idle: bool) -> Result:
    data = work / "data"
    po(data, "init", "--domain", "example.test", "--ports", "any")
    po(data, "user", "add", RECIPIENT, "--password-stdin", stdin="bench-password-not-secret\n")
    set_toml_key(data / "postoffice.toml", "server", "workers", str(args.workers))
    log_path = work / "serve.log"
    with serving(data, log_path) as (proc, host, port):
        idle = idle_connections(host, port, args.idle, proc.pid) if measure_idle and args.idle else None
        result = run_load(args, host, port, work)
        t0 = time.monotonic()
        stored = count_mailbox(data, args.messages, timeout=min(args.timeout, 300))
        result["mailbox_wait_seconds"] = round(time.monotonic() - t0, 2)
        result["processes"] = 1 + len(descendants(proc.pid))
        result["peak_rss_bytes"] = tree_kb(proc.pid, "VmHWM") * 1024
        if idle is not None:
            result["idle"] = idle
        if stored != args.messages:
            result["log_tail"] = log_path.read_text(errors="replace")[-1500:]
    return finish(result, args.messages, stored)


def count_mailbox(data: Path, expected: int, timeout: float) -> int | None:
    """Messages in bench@example.test's INBOX, polled until ``expected`` or ``timeout``."""
    deadline = time.monotonic() + timeout
    count: int | None = None
    while True:
        count = len(json.loads(po(data, "mailbox", "ls", RECIPIENT, "--json", timeout=timeout)))
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(1.0)


# ---------------------------------------------------------------------- main
def human(n: float | None, unit: str = "") -> str:
    if n is None:
        return "-"
    for suffix in ("", "K", "M", "G"):
        if abs(n) < 1024 or suffix == "G":
            return f"{n:.0f} {suffix}{unit}" if suffix == "" else f"{n:.1f} {suffix}{unit}"
        n /= 1024
    return str(n)


def summarise(name: str, rounds: list[Result]) -> Result:
    rates = [r["rate"] for r in rounds if "rate" in r and "error" not in r]
    return {
        "target": name,
        "rounds": rounds,
        "rate_median": round(statistics.median(rates), 1) if rates else None,
        "rates": [r.get("rate") for r in rounds],
        "ok": len(rates) == len(rounds),
    }


LABELS = {
    "sink": "smtp-sink (no disk, ceiling)",
    "postfix": "Postfix hold queue (fsync)",
    "postoffice": "postoffice MX -> mailbox",
}


def print_report(report: Result) -> None:
    import smtp_relay

    if any(s["target"] in TARGETS for s in report["results"]):
        print_accept_report(report)
    smtp_relay.print_relay(report)


def print_accept_report(report: Result) -> None:
    p = report["params"]
    print()
    print(f"smtp-source: {' '.join(report['smtp_source'])}")
    print(f"{p['messages']} messages x {p['size']} B, {p['sessions']} sessions, rounds={p['rounds']}, "
          f"postoffice workers={p['workers']}")
    print()
    print(f"{'target':34} {'stored':>13} {'seconds':>9} {'msg/s':>9}  notes")
    for s in report["results"]:
        if s["target"] not in TARGETS:
            continue
        for i, r in enumerate(s["rounds"]):
            stored = f"{r.get('stored', '-')}/{r.get('requested', p['messages'])}"
            name = LABELS[s["target"]] + (f" #{i + 1}" if len(s["rounds"]) > 1 else "")
            note = r.get("error", "").strip().splitlines()
            note = (note[0][:90] + (" ..." if len(note) > 1 or len(note[0]) > 90 else "")) if note else ""
            print(f"{name:34} {stored:>13} {r.get('seconds', 0):>9.2f} {r.get('rate') or 0:>9.0f}  {note}")
        if len(s["rounds"]) > 1:
            print(f"{'  median':34} {'':>13} {'':>9} {s['rate_median'] or 0:>9.0f}")
    ratio = report.get("ratio_postoffice_postfix")
    if ratio is not None:
        print(f"\npostoffice / Postfix hold: {ratio:.2f}x (target >= 1.5)")
    po_ = next((s for s in report["results"] if s["target"] == "postoffice"), None)
    if po_ and po_["rounds"] and "peak_rss_bytes" in po_["rounds"][0]:
        first = po_["rounds"][0]
        print(f"postoffice peak RSS (sum of VmHWM over {first.get('processes', '?')} process(es)): "
              f"{human(max(r.get('peak_rss_bytes', 0) for r in po_['rounds']), 'B')}")
        idle = first.get("idle")
        if idle:
            print(f"postoffice idle connections: {idle['connections']} held ({idle['refused']} refused), "
                  f"RSS +{human(idle['rss_after_bytes'] - idle['rss_before_bytes'], 'B')}, "
                  f"{human(idle['bytes_per_connection'], 'B')} per connection (target <= 64 KB)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=20_000, help="messages per target (default 20000)")
    ap.add_argument("--sessions", type=int, default=50, help="parallel SMTP sessions (default 50)")
    ap.add_argument("--size", type=int, default=10_240, help="message payload bytes (default 10240)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="postoffice [server] workers (default: number of CPUs)")
    ap.add_argument("--relay-workers", type=int, default=1,
                    help="postoffice [server] workers for the relay case (default 1)")
    ap.add_argument("--delivery-processes", type=int, default=2,
                    help="postoffice [delivery] processes for the relay case (default 2)")
    ap.add_argument("--only", default="all",
                    help="comma-separated targets and parts: sink, postfix, postoffice (accept case), "
                         "relay-postfix, relay-postoffice, relay-postoffice-rsa, relay-postoffice-nodkim "
                         "(end-to-end relay, bench/smtp_relay.py), restart, dkim; or the groups accept, "
                         "relay, all (default: all = accept, relay, restart, dkim)")
    ap.add_argument("--rounds", type=int, default=1, help="runs per target, median reported (default 1)")
    ap.add_argument("--idle", type=int, default=1000, help="idle connections for the memory test (0: skip)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per load run (default 600)")
    ap.add_argument("--new-connection-per-message", action="store_true",
                    help="omit smtp-source -d: one connection per message, for every target")
    ap.add_argument("--restart-messages", type=int, default=200_000,
                    help="queued messages for the restart measurement (default 200000)")
    ap.add_argument("--restart-size", type=int, default=10_240,
                    help="size of each of those messages in bytes (default 10240)")
    ap.add_argument("--py-spy", metavar="DIR",
                    help="record postoffice with py-spy (raw format) during each relay run, into DIR")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                    help="before each run wait up to S seconds for the machine to be idle "
                         "(< 0.3 CPUs busy over 2 s; for shared machines; default 0: do not wait)")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    args = ap.parse_args(argv)
    known = (*TARGETS, *RELAY_TARGETS, *PARTS)
    only: list[str] = []
    for t in (t.strip() for t in args.only.split(",") if t.strip()):
        for name in GROUPS.get(t, (t,)):
            if name not in known:
                ap.error(f"--only: unknown target {name}; choose from {', '.join(known)} or {', '.join(GROUPS)}")
            if name not in only:
                only.append(name)
    args.only = only
    if min(args.messages, args.sessions, args.size, args.rounds) < 1 or args.workers < 0:
        ap.error("--messages, --sessions, --size and --rounds must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if inherited as ignored
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    ensure_postfix_tools()
    raise_fd_limit(args.idle + args.sessions + 1024)
    for name in ("postfix", "relay-postfix"):
        if os.geteuid() != 0 and name in args.only:
            print(f"not root: skipping the {name} target (postfix start needs root)", file=sys.stderr)
            args.only.remove(name)
    sys.modules.setdefault("smtp_accept", sys.modules[__name__])  # smtp_relay imports us by name
    import smtp_relay

    report: Result = {
        "machine": machine(),
        "params": {k: getattr(args, k) for k in ("messages", "sessions", "size", "workers", "relay_workers", "delivery_processes", "rounds", "idle",
                                                 "restart_messages", "restart_size")},
        "smtp_source": smtp_source_cmd(args, "HOST", 0)[:-1] + ["HOST:PORT"],
        "results": [],
    }
    print(f"machine: {report['machine']}")
    runners: dict[str, Callable[[Path, int], Result]] = {
        "sink": lambda w, i: bench_sink(args, w),
        "postfix": lambda w, i: bench_postfix(args, w),
        "postoffice": lambda w, i: bench_postoffice(args, w, measure_idle=(i == 0)),
        **{name: (lambda w, i, name=name: smtp_relay.run_relay(args, name, w)) for name in RELAY_TARGETS},
    }
    status = 0
    try:
        # Rounds are interleaved (sink, postfix, postoffice, sink, ...) so that background load
        # on a shared machine spreads over all targets instead of hitting one target's rounds.
        names = [t for t in (*TARGETS, *RELAY_TARGETS) if t in args.only]
        rounds: dict[str, list[Result]] = {name: [] for name in names}
        for i in range(args.rounds):
            for name in names:
                busy = wait_quiet(args.wait_quiet) if args.wait_quiet else None
                print(f"{name}: round {i + 1}/{args.rounds} ..."
                      + (f" (machine: {busy:.2f} CPUs busy before)" if busy is not None else ""), flush=True)
                work = Path(tempfile.mkdtemp(prefix=f"postoffice-bench-{name}-", dir=TMP))
                work.chmod(0o755)  # Postfix daemons (user postfix) open paths below it
                try:
                    r = runners[name](work, i)
                except (RuntimeError, TimeoutError, OSError, subprocess.SubprocessError, ValueError) as e:
                    r = {"error": f"{type(e).__name__}: {e}"}
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                print(f"  {json.dumps({k: v for k, v in r.items() if k not in ('log_tail', 'idle')})}", flush=True)
                if "log_tail" in r and "error" in r:
                    print("  log tail: " + r["log_tail"][-600:].replace("\n", "\n    "), flush=True)
                if busy is not None:
                    r["busy_cpus_before"] = round(busy, 2)
                rounds[name].append(r)
        for name in names:
            summary = summarise(name, rounds[name])
            status |= 0 if summary["ok"] else 1
            report["results"].append(summary)
        for name, run in (("restart", smtp_relay.bench_restart), ("dkim", smtp_relay.bench_dkim)):
            if name not in args.only:
                continue
            print(f"{name} ...", flush=True)
            work = Path(tempfile.mkdtemp(prefix=f"postoffice-bench-{name}-", dir=TMP))
            try:
                r = run(args, work) if name == "restart" else run(args)
            except (RuntimeError, TimeoutError, OSError, subprocess.SubprocessError, ValueError) as e:
                r = {"error": f"{type(e).__name__}: {e}"}
            finally:
                shutil.rmtree(work, ignore_errors=True)
            print(f"  {json.dumps({k: v for k, v in r.items() if k not in ('log_tail', 'results')})}", flush=True)
            status |= 1 if "error" in r else 0
            report[name] = r
    except KeyboardInterrupt:
        print("\ninterrupted; everything started was stopped", file=sys.stderr)
        return 130
    rates = {s["target"]: s["rate_median"] for s in report["results"]}
    if rates.get("postoffice") and rates.get("postfix"):
        report["ratio_postoffice_postfix"] = round(rates["postoffice"] / rates["postfix"], 2)
    if rates.get("relay-postfix"):
        for key, name in (("ratio_relay", "relay-postoffice"), ("ratio_relay_rsa", "relay-postoffice-rsa"),
                          ("ratio_relay_nodkim", "relay-postoffice-nodkim")):
            if rates.get(name):
                report[key] = round(rates[name] / rates["relay-postfix"], 2)
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return status


if __name__ == "__main__":
    sys.exit(main())
