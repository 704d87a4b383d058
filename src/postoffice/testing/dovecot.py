"""A private, throw-away Dovecot (IMAP and POP3) for conformance tests and benchmarks.

Theory of operation
-------------------
:class:`PrivateDovecot` writes a complete ``dovecot.conf`` into the directory it is given and
runs ``dovecot -F -c DIR/dovecot.conf`` in the foreground as a child process. Nothing of the
system Dovecot (``/etc/dovecot``, ``/run/dovecot``, ``/var/lib/dovecot``) is read or touched:

* ``base_dir`` (sockets, pid file) is ``DIR/run``, or a short directory under the system temp
  directory when ``DIR`` is too long for Unix socket paths; ``state_dir`` is ``DIR/state``;
  the log is ``DIR/dovecot.log``; ``instance_name`` is unique.
* IMAP and POP3 listen on ``host`` only, on the given ports or free ones; no TLS
  (``ssl = no``, plaintext authentication allowed, mechanisms PLAIN and LOGIN).
* Users and passwords come from a passwd-file (``DIR/users``); every user's home is
  ``home/USER`` under :attr:`PrivateDovecot.mail_root` with the mail in ``Maildir`` there.
* Every IMAP extension this Dovecot has is on: the built-in ones, plus NOTIFY (``notify``
  plugin with the mailbox list index), METADATA (a per-user attribute dictionary) and URLAUTH
  (any host). ``$user`` in URLAUTH URLs is the login name, so give users without a domain to
  test URLAUTH.
* As a normal user, every process runs as that user, without the chroots Dovecot uses for
  login processes by default (they need root). As root, Dovecot forbids mail access and
  login processes as root, so the login processes run as ``dovenull`` (or ``nobody``) and mail
  processes as ``dovecot`` (or ``nobody``) chrooted into :attr:`mail_root` (``DIR/mail``), which
  spares them from needing access to the directories above it.

:meth:`PrivateDovecot.stop` sends SIGTERM to the PID it started (SIGKILL if it lingers) and
removes the socket directory it created; ``DIR`` itself belongs to the caller.
A missing ``dovecot`` skips the test (fails under ``POSTOFFICE_REQUIRE_PEERS=1``).
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from postoffice.testing.peers import require_peer
from postoffice.testing.postfix import free_port
from postoffice.testing.processes import remove_tree, terminate

__all__ = ["DOVECOT", "DovecotError", "PrivateDovecot"]

DOVECOT = "/usr/sbin/dovecot"
"""Where Debian's ``dovecot-core`` package installs the server."""

_SOCKET_DIR_MAX = 60
"""Longest base_dir: Dovecot puts sockets two levels below it, and sun_path has 108 bytes."""


class DovecotError(RuntimeError):
    """Dovecot could not be configured or started; the message has its log tail."""


def _user(*names: str) -> pwd.struct_passwd:
    for name in names:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise DovecotError(f"none of the system users {', '.join(names)} exists")


class PrivateDovecot:
    """A Dovecot instance in ``directory`` (which must exist or be creatable)."""

    def __init__(
        self,
        directory: Path,
        host: str = "127.0.0.1",
        imap_port: int = 0,
        pop3_port: int = 0,
        users: Mapping[str, str] | None = None,
        *,
        settings: Mapping[str, str] | None = None,
        binary: str = DOVECOT,
        start_timeout: float = 20.0,
    ) -> None:
        self.directory = Path(directory)
        self.host = host
        self.imap_port = imap_port
        self.pop3_port = pop3_port
        self.users = dict(users if users is not None else {"user@example.org": "password"})
        self.settings = dict(settings or {})
        """Extra top-level ``dovecot.conf`` settings (override the defaults)."""
        self.binary = binary
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._socket_dir: Path | None = None

    # ---------------------------------------------------------------- addresses and paths
    @property
    def imap_address(self) -> tuple[str, int]:
        if self.process is None:
            raise DovecotError("not started")
        return (self.host, self.imap_port)

    @property
    def pop3_address(self) -> tuple[str, int]:
        if self.process is None:
            raise DovecotError("not started")
        return (self.host, self.pop3_port)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def mail_root(self) -> Path:
        """Holds ``home/USER/Maildir`` for every user (the mail processes' chroot as root)."""
        return self.directory / "mail"

    def maildir(self, user: str) -> Path:
        return self.mail_root / "home" / user / "Maildir"

    @property
    def log_path(self) -> Path:
        return self.directory / "dovecot.log"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:]) or "(empty log)"

    # ---------------------------------------------------------------- configuration
    def _config(self, base_dir: Path) -> str:
        root = os.geteuid() == 0
        me = pwd.getpwuid(os.geteuid()).pw_name
        login_user = _user("dovenull", "nobody").pw_name if root else me
        home = "/home/%u" if root else f"{self.mail_root}/home/%u"
        settings = {
            "base_dir": str(base_dir),
            "state_dir": str(self.directory / "state"),
            "instance_name": f"postoffice-{base_dir.name}",
            "log_path": str(self.log_path),
            "listen": self.host,
            "protocols": "imap pop3",
            "ssl": "no",
            "disable_plaintext_auth": "no",
            "auth_mechanisms": "plain login",
            "default_internal_user": me,
            "default_internal_group": _group_name(os.getegid()),
            "default_login_user": login_user,
            "first_valid_uid": "1",
            "first_valid_gid": "1",
            "mail_location": "maildir:~/Maildir",
            "mail_plugins": "$mail_plugins notify",
            "mailbox_list_index": "yes",
            "mail_attribute_dict": "file:%h/dovecot-attributes",
            "imap_metadata": "yes",
            "imap_urlauth_host": "*",
            "mail_max_userip_connections": "1000",
            "pop3_uidl_format": "%08Xu%08Xv",
        }
        if root:
            mail_user = _user("dovecot", "nobody")
            settings |= {
                "mail_uid": str(mail_user.pw_uid),
                "mail_gid": str(mail_user.pw_gid),
                "mail_chroot": str(self.mail_root),
                "valid_chroot_dirs": str(self.mail_root),
            }
        settings |= self.settings
        lines = [f"{key} = {value}" for key, value in settings.items()]
        users_file = self.directory / "users"
        lines += [
            "passdb {",
            "  driver = passwd-file",
            f"  args = scheme=PLAIN username_format=%u {users_file}",
            "}",
            "userdb {",
            "  driver = static",
            f"  args = home={home}",
            "}",
        ]
        # An unprivileged master cannot chroot: drop the chroots of the services that have one.
        no_chroot = [] if root else ["  chroot ="]
        for service, port in (("imap", self.imap_port), ("pop3", self.pop3_port)):
            lines += [
                f"service {service}-login {{",
                *no_chroot,
                f"  inet_listener {service} {{",
                f"    address = {self.host}",
                f"    port = {port}",
                "  }",
                f"  inet_listener {service}s {{",
                "    port = 0",
                "  }",
                "}",
            ]
        if not root:
            for service in ("anvil", "imap-urlauth-login"):
                lines += [f"service {service} {{", *no_chroot, "}"]
        return "\n".join(lines) + "\n"

    def _write_files(self, base_dir: Path) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for name in ("state", "mail"):
            (self.directory / name).mkdir(exist_ok=True)
        users_file = self.directory / "users"
        users_file.write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items()))
        users_file.chmod(0o644)
        mail_user = _user("dovecot", "nobody") if os.geteuid() == 0 else None
        self.mail_root.chmod(0o755)
        for user in self.users:
            home = self.mail_root / "home" / user
            home.mkdir(parents=True, exist_ok=True)
            if mail_user is not None:
                (self.mail_root / "home").chmod(0o755)
                os.chown(home, mail_user.pw_uid, mail_user.pw_gid)
        (self.directory / "dovecot.conf").write_text(self._config(base_dir))

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> PrivateDovecot:
        """Write the configuration, start Dovecot, return once IMAP and POP3 greet."""
        if self.process is not None:
            raise DovecotError("already started")
        self.binary = require_peer("dovecot", self.binary, package="dovecot-imapd")
        fixed = self.imap_port != 0 or self.pop3_port != 0
        for attempt in range(3):
            if not self.imap_port or not fixed:
                self.imap_port = free_port(self.host)
            if not self.pop3_port or not fixed:
                self.pop3_port = free_port(self.host)
            base_dir = self.directory / "run"
            if len(str(base_dir)) > _SOCKET_DIR_MAX:
                self._socket_dir = Path(tempfile.mkdtemp(prefix="podv-"))
                base_dir = self._socket_dir
            self._write_files(base_dir)
            self.log_path.unlink(missing_ok=True)
            with open(self.directory / "dovecot.out", "wb") as out:
                self.process = subprocess.Popen(
                    [self.binary, "-F", "-c", str(self.directory / "dovecot.conf")],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            try:
                self._wait_ready()
                return self
            except DovecotError:
                in_use = "in use" in self.log_text() + self._output()
                self.stop()
                if fixed or attempt == 2 or not in_use:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _output(self) -> str:
        try:
            return (self.directory / "dovecot.out").read_text(errors="replace")
        except OSError:
            return ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        pending = {self.imap_port: b"* OK", self.pop3_port: b"+OK"}
        while pending:
            assert self.process is not None
            if self.process.poll() is not None:
                raise DovecotError(
                    f"dovecot exited with {self.process.returncode}\n"
                    f"{self._output()}{self._log_tail()}"
                )
            if time.monotonic() > deadline:
                raise DovecotError(f"dovecot did not greet on {sorted(pending)}\n{self._log_tail()}")
            for port, greeting in list(pending.items()):
                if _greets(self.host, port, greeting):
                    del pending[port]
            if pending:
                time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the Dovecot started here (by its PID) and remove the socket directory."""
        terminate(self.process, timeout)
        self.process = None
        self._socket_dir = remove_tree(self._socket_dir, keep=False)

    def __enter__(self) -> PrivateDovecot:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _greets(host: str, port: int, greeting: bytes) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            return sock.recv(256).startswith(greeting)
    except OSError:
        return False
