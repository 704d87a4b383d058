"""A real Rspamd on loopback, for the spam-check tests.

Theory of operation
-------------------
:class:`Rspamd` writes an ``rspamd.conf`` into a fresh temporary directory and runs
``rspamd -f -c DIR/rspamd.conf`` in the foreground as a child process (no systemd, no
``/var/lib/rspamd``: the databases, caches, log and control socket are in the directory, and
``LOCAL_CONFDIR`` points there too, so a host's ``/etc/rspamd/local.d`` cannot leak in). As root
the workers run as root (``-u root -g root -i``). One ``normal`` worker listens on
``127.0.0.1:<free port>``; no controller, proxy or fuzzy worker. The configuration, in short::

    lua = $RULESDIR/rspamd.lua                  the stock rules (headers, MIME, subject, ...)
    .include $CONFDIR/{metrics,actions,groups,composites}.conf   stock scores and actions
    options:  filters = chartable,regexp (no dkim, no fuzzy_check); no plugin module is
              configured, so none loads; dns nameserver: a dead loopback port (no lookup
              leaves the machine); url_tld: a short suffix list (the full one costs ~9 s to
              compile at start)
    logging:  DIR/rspamd.log
    worker "normal": bind_socket 127.0.0.1:PORT

So there is no Redis (no Bayes, greylisting or reputation), no DNS (no SPF, DKIM, DMARC or RBL
checks: postoffice does those itself) and no network maps. The stock actions stand: reject from
15, add header from 6, greylist from 4. GTUBE is recognised (action reject, score 15).

It is ready when ``GET /ping`` answers ``pong`` (about 1 s; Rspamd's hs_helper then compiles
its regular expressions for Hyperscan for a few seconds in the background, into DIR).
:meth:`stop` sends SIGTERM to the PID it started (SIGKILL to its process group if it lingers)
and removes the directory (kept with ``keep=True`` or ``POSTOFFICE_KEEP_TMP=1``). A missing ``rspamd`` skips the test (fails under
``POSTOFFICE_REQUIRE_PEERS=1``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from postoffice.testing.peers import require_peer
from postoffice.testing.processes import remove_tree, terminate

__all__ = ["RSPAMD", "Rspamd", "RspamdServerError"]

RSPAMD = "/usr/bin/rspamd"
"""Where Debian's ``rspamd`` package installs the daemon."""
DEAD_NAMESERVER = "127.0.0.1:9"
"""Where Rspamd's resolver is pointed: nothing answers there, so no lookup goes anywhere."""
SUFFIXES = ("com", "net", "org", "info", "biz", "io", "co", "uk", "co.uk", "de", "example",
            "test", "invalid", "localhost")


class RspamdServerError(RuntimeError):
    """Rspamd could not be started; the message has its log tail."""


class Rspamd:
    """Rspamd's normal worker on loopback; use as a context manager. ``url`` is what
    ``[inbound] rspamd_url`` takes."""

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None,
                 rspamd: str = RSPAMD, nameserver: str = DEAD_NAMESERVER,
                 keep: bool | None = None, start_timeout: float = 60.0) -> None:
        self.host = host
        self.port = port
        self.rspamd = rspamd
        self.nameserver = nameserver
        self.keep = keep if keep is not None else os.environ.get("POSTOFFICE_KEEP_TMP") == "1"
        self.start_timeout = start_timeout
        self.root: Path | None = None
        self.kept_dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    @property
    def url(self) -> str:
        return f"http://{self._hostport()}"

    def _hostport(self) -> str:
        if self.port is None:
            raise RspamdServerError("not started")
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def _dir(self) -> Path:
        if self.root is None:
            raise RspamdServerError("not started")
        return self.root

    def log_text(self) -> str:
        try:
            return (self._dir() / "rspamd.log").read_text(errors="replace")
        except (OSError, RspamdServerError):
            return ""

    def config(self) -> str:
        root = self._dir()
        return f"""\
lua = "$RULESDIR/rspamd.lua"
.include "$CONFDIR/metrics.conf"
.include "$CONFDIR/actions.conf"
.include "$CONFDIR/groups.conf"
.include "$CONFDIR/composites.conf"
options {{
  filters = "chartable,regexp";
  explicit_modules = [];
  allow_raw_input = true;
  task_timeout = 8s;
  url_tld = "{root}/suffixes.dat";
  cache_file = "{root}/symbols.cache";
  hs_cache_dir = "{root}";
  tempdir = "{root}";
  history_file = "{root}/rspamd.history";
  stats_file = "{root}/stats.ucl";
  control_socket = "{root}/rspamd.sock mode=0600";
  dns {{ nameserver = ["{self.nameserver}"]; timeout = 0.2s; retransmits = 1; }}
}}
logging {{ type = "file"; filename = "{root}/rspamd.log"; level = "info"; }}
worker "normal" {{ bind_socket = "{self._hostport()}"; count = 1; mime = true; }}
modules {{ path = "$PLUGINSDIR"; }}
"""

    def start(self) -> Rspamd:
        if self.process is not None:
            raise RspamdServerError("already started")
        self.rspamd = require_peer("rspamd", self.rspamd, package="rspamd")
        fixed_port = self.port is not None
        for attempt in range(3):
            self.root = Path(tempfile.mkdtemp(prefix="postoffice-rspamd-"))
            if not fixed_port:
                self.port = _free_port(self.host)
            try:
                self._launch()
                return self
            except RspamdServerError:
                log = self.log_text()
                self.stop()
                if fixed_port or attempt == 2 or "bind" not in log:
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self) -> None:
        root = self._dir()
        (root / "suffixes.dat").write_text("\n".join(SUFFIXES) + "\n")
        (root / "rspamd.conf").write_text(self.config())
        args = [self.rspamd, "-f", "-c", str(root / "rspamd.conf"),
                "--var", f"LOCAL_CONFDIR={root}", "--var", f"DBDIR={root}",
                "--var", f"RUNDIR={root}", "--var", f"LOGDIR={root}"]
        if os.geteuid() == 0:
            args += ["-u", "root", "-g", "root", "-i"]
        began = time.monotonic()
        with (root / "rspamd.stderr").open("wb") as stderr:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=stderr,
                                            start_new_session=True)
        deadline = began + self.start_timeout
        while not self._pong():
            if self.process.poll() is not None:
                raise RspamdServerError(f"rspamd exited with {self.process.returncode}\n"
                                        f"{self._log_tail()}")
            if time.monotonic() > deadline:
                raise RspamdServerError(f"rspamd did not answer on {self.url}\n{self._log_tail()}")
            time.sleep(0.05)
        self.startup_seconds = time.monotonic() - began

    def _pong(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port or 0), timeout=1.0) as sock:
                sock.sendall(b"GET /ping HTTP/1.0\r\n\r\n")
                answer = b""
                while chunk := sock.recv(4096):
                    answer += chunk
        except OSError:
            return False
        return answer.startswith(b"HTTP/1.1 200") and answer.rstrip().endswith(b"pong")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the PID started here (SIGKILL to its process group if it lingers), then
        remove the directory."""
        proc, self.process = self.process, None
        terminate(proc, timeout, group=True)
        if self.root is not None:
            self.kept_dir = remove_tree(self.root, self.keep)
            self.root = None

    def _log_tail(self, lines: int = 30) -> str:
        text = self.log_text()
        try:
            text += (self._dir() / "rspamd.stderr").read_text(errors="replace")
        except (OSError, RspamdServerError):
            pass
        return "--- rspamd log ---\n" + "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Rspamd:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
