"""A private, throw-away Postfix instance for interoperability tests and benchmarks.

Theory of operation
-------------------
:class:`PostfixInstance` writes a complete Postfix configuration (``main.cf`` and a minimal
``master.cf``) into a fresh temporary directory, with its own ``queue_directory`` and
``data_directory`` beside it, and starts it with ``postfix -c DIR start``. Nothing of the system
Postfix (``/etc/postfix/main.cf``, ``/var/spool/postfix``) is read or touched, so several instances
can run at once and the system Postfix may stay stopped. Starting Postfix needs root.

* Only loopback is used: ``inet_interfaces = loopback-only`` and a single ``smtpd`` service on
  ``host:port`` (default ``127.0.0.1`` and a free port). No chroot, no DNS, no local delivery.
* Logs go to ``maillog_file`` in the temp directory (``postlogd``), so :meth:`log_text` can show
  what Postfix did when a test fails.
* Two modes:

  - ``relay_to=(host, port)``: accept mail for any domain from loopback and relay all of it to
    that host and port (``relayhost = [host]:port``), with short retry delays;
  - ``hold=True``: accept every message into the *hold* queue (``check_client_access
    static:HOLD``): durable, never delivered. Used as the peer the accept benchmark compares to.

  Postfix keeps its normal durability: queue files are fsync'ed before ``250`` (its default, which
  is not changed here).
* :meth:`stop` runs ``postfix -c DIR stop``, waits for the master process and the daemons it had
  started to exit (killing, by PID, only those that outlive a timeout), then removes the
  temporary directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

__all__ = ["POSTFIX", "QUEUE_KINDS", "PostfixError", "PostfixInstance", "free_port"]

POSTFIX = "/usr/sbin/postfix"
"""Where Debian installs the ``postfix`` control command."""

QUEUE_KINDS = ("maildrop", "incoming", "active", "deferred", "hold", "corrupt")
"""Postfix queue directories that hold queue files."""

_IN_FLIGHT = ("maildrop", "incoming", "active", "deferred")

# One line per service; column 5 (chroot) is "n" everywhere. The smtpd line is added per instance.
_MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixError(RuntimeError):
    """Postfix could not be configured, started or stopped; the message includes its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a daemon's zombie may wait for PID 1)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    # state is the first field after the parenthesised command name
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] != b"Z"


def _children(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait up to ``timeout`` s for ``pids`` to exit; return the ones still alive."""
    deadline = time.monotonic() + timeout
    alive = [p for p in pids if _pid_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if _pid_alive(p)]
    return alive


class PostfixInstance:
    """A private Postfix on loopback; use as a context manager (``with PostfixInstance(...) as pf``).

    Exactly one of ``relay_to`` and ``hold`` selects the mode. ``main_cf`` adds or overrides
    ``main.cf`` parameters. ``keep=True`` (or env ``POSTOFFICE_KEEP_TMP=1``) leaves the temporary
    directory behind after :meth:`stop` for post-mortems.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        relay_to: tuple[str, int] | None = None,
        hold: bool = False,
        smtp_bind_address: str | None = None,
        main_cf: Mapping[str, str] | None = None,
        postfix: str = POSTFIX,
        base_dir: str | os.PathLike[str] | None = None,
        keep: bool | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        if (relay_to is None) == (not hold):
            raise ValueError("choose exactly one mode: relay_to=(host, port) or hold=True")
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.relay_to = relay_to
        self.hold = hold
        self.smtp_bind_address = smtp_bind_address
        self.extra_main = dict(main_cf or {})
        self.postfix = postfix
        self.base_dir = base_dir
        self.keep = keep if keep is not None else os.environ.get("POSTOFFICE_KEEP_TMP") == "1"
        self.start_timeout = start_timeout
        self.root: Path | None = None
        self.kept_dir: Path | None = None
        """The temp directory left behind by :meth:`stop` when ``keep`` is set."""
        self.master_pid: int | None = None
        self._daemon_pids: list[int] = []

    # ---------------------------------------------------------------- paths
    def _path(self, name: str) -> Path:
        if self.root is None:
            raise PostfixError("instance not started")
        return self.root / name

    @property
    def config_dir(self) -> Path:
        return self._path("etc")

    @property
    def queue_dir(self) -> Path:
        return self._path("spool")

    @property
    def data_dir(self) -> Path:
        return self._path("data")

    @property
    def log_path(self) -> Path:
        return self._path("maillog")

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` of the smtpd listener."""
        return (self.host, self.port)

    # ---------------------------------------------------------- configuration
    def main_cf(self) -> dict[str, str]:
        """The ``main.cf`` parameters of this instance (needs :attr:`root`)."""
        root = self._path("")
        params = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.data_dir),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "postfix-peer.localdomain",
            "mydomain": "localdomain",
            "myorigin": "$myhostname",
            "mydestination": "",
            "local_recipient_maps": "",
            "local_transport": "error:5.1.1 local delivery is disabled",
            "alias_maps": "",
            "alias_database": "",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_peername_lookup": "no",
            "smtpd_banner": "$myhostname ESMTP private test instance",
            "biff": "no",
            "append_dot_mydomain": "no",
            "smtputf8_enable": "yes",
            "smtpd_tls_security_level": "none",
            "smtp_tls_security_level": "none",
            "smtp_dns_support_level": "disabled",
            "smtp_host_lookup": "native",
            "maillog_file": str(self.log_path),
            "maillog_file_prefixes": str(root),
            "delay_warning_time": "0",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "smtp_connect_timeout": "5s",
        }
        if self.relay_to is not None:
            rhost, rport = self.relay_to
            params["relayhost"] = f"[{rhost}]:{rport}"
        if self.hold:
            params["smtpd_client_restrictions"] = "check_client_access static:HOLD"
        if self.smtp_bind_address:
            params["smtp_bind_address"] = self.smtp_bind_address
        params.update(self.extra_main)
        return params

    def _write_config(self) -> None:
        self.config_dir.mkdir()
        main = "".join(f"{k} = {v}\n" for k, v in self.main_cf().items())
        (self.config_dir / "main.cf").write_text(main)
        smtpd = f"{self.host}:{self.port} inet n - n - - smtpd\n"
        (self.config_dir / "master.cf").write_text(_MASTER_CF + smtpd)

    # -------------------------------------------------------------- lifecycle
    def _run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.postfix, "-c", str(self.config_dir), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def start(self) -> PostfixInstance:
        """Create the instance and start it; return once smtpd accepts connections."""
        if self.master_pid is not None:
            raise PostfixError("already started")
        if not Path(self.postfix).exists():
            raise PostfixError(f"{self.postfix} not found (Debian package postfix)")
        if os.geteuid() != 0:
            raise PostfixError("starting Postfix needs root")
        self.root = Path(tempfile.mkdtemp(prefix="postoffice-postfix-", dir=self.base_dir))
        try:
            # Postfix daemons run as the postfix user and open paths below root by name.
            self.root.chmod(0o755)
            self._write_config()
            # Root-owned top directories; `postfix start` creates the queue subdirectories
            # (post-install create-missing) with the owners and modes Postfix expects.
            self.queue_dir.mkdir(mode=0o755)
            self.log_path.touch()
            proc = self._run("start", timeout=self.start_timeout)
            if proc.returncode != 0:
                raise PostfixError(
                    f"postfix start failed ({proc.returncode}): {proc.stdout}{proc.stderr}"
                    f"\n--- maillog ---\n{self.log_tail()}"
                )
            self.master_pid = self._read_master_pid()
            self._wait_listening(self.start_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _read_master_pid(self) -> int:
        pidfile = self.queue_dir / "pid" / "master.pid"
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            try:
                return int(pidfile.read_text().strip())
            except (OSError, ValueError):
                time.sleep(0.05)
        raise PostfixError(f"no master pid in {pidfile}\n--- maillog ---\n{self.log_tail()}")

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(self.address, timeout=2) as s:
                    s.settimeout(10)
                    banner = s.recv(512)
                    s.sendall(b"QUIT\r\n")
                if banner.startswith(b"220"):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise PostfixError(
                    f"smtpd not answering on {self.host}:{self.port}\n--- maillog ---\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop Postfix (``postfix stop``, then wait for its processes) and remove the temp dir."""
        if self.root is None:
            return
        try:
            master = self.master_pid
            if master is None and (self.queue_dir / "pid" / "master.pid").exists():
                try:
                    master = int((self.queue_dir / "pid" / "master.pid").read_text().strip())
                except ValueError:
                    master = None
            if master is not None and _pid_alive(master):
                daemons = _children(master)
                if self.config_dir.exists():
                    try:
                        self._run("stop", timeout=timeout)
                    except subprocess.TimeoutExpired:
                        pass
                if _wait_gone([master], timeout):
                    os.kill(master, signal.SIGTERM)
                    if _wait_gone([master], 5.0):
                        os.kill(master, signal.SIGKILL)
                        _wait_gone([master], 5.0)
                # Daemons notice the master is gone and exit on their own; kill laggards by PID.
                for pid in _wait_gone(daemons, 10.0):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                _wait_gone(daemons, 5.0)
        finally:
            self.master_pid = None
            if self.keep:
                self.kept_dir = self.root
            else:
                shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> PostfixInstance:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def pids(self) -> list[int]:
        """PIDs of the master and the daemons it currently runs (for RSS measurements)."""
        if self.master_pid is None:
            return []
        return [self.master_pid, *_children(self.master_pid)]

    # ------------------------------------------------------------ inspection
    def queue_count(self, kind: str = "hold") -> int:
        """Number of queue files in one queue (``hold``, ``deferred``, ``active``, ``incoming``...)."""
        if kind not in QUEUE_KINDS:
            raise ValueError(f"unknown queue {kind!r}; one of {', '.join(QUEUE_KINDS)}")
        top = self.queue_dir / kind
        if not top.exists():
            return 0
        return sum(len(files) for _dirpath, _dirs, files in os.walk(top))

    def queue_counts(self) -> dict[str, int]:
        """Counts of all queues at once."""
        return {kind: self.queue_count(kind) for kind in QUEUE_KINDS}

    def wait_for_queue_count(self, kind: str, count: int, timeout: float) -> int:
        """Wait until queue ``kind`` holds at least ``count`` files or ``timeout`` s pass; return the count."""
        deadline = time.monotonic() + timeout
        n = self.queue_count(kind)
        while n < count and time.monotonic() < deadline:
            time.sleep(0.05)
            n = self.queue_count(kind)
        return n

    def wait_for_queue_empty(self, timeout: float) -> bool:
        """Wait until nothing is waiting for delivery (maildrop, incoming, active, deferred).

        Held messages do not count. Returns False if the queue did not drain within ``timeout`` s.
        """
        deadline = time.monotonic() + timeout
        while True:
            if sum(self.queue_count(k) for k in _IN_FLIGHT) == 0:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def log_text(self) -> str:
        """The instance's whole mail log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except (OSError, PostfixError):
            return ""

    def wait_for_log(self, text: str, timeout: float) -> bool:
        """Wait until ``text`` appears in the mail log (postlogd writes asynchronously)."""
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the mail log (for error messages)."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def __repr__(self) -> str:
        mode = f"relay_to={self.relay_to!r}" if self.relay_to else "hold=True"
        return f"PostfixInstance({self.host}:{self.port}, {mode}, root={self.root})"
