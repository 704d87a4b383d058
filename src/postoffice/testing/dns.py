"""A real authoritative DNS server (Knot DNS) on loopback, serving test zones.

Theory of operation
-------------------
:class:`AuthoritativeDns` writes a ``knot.conf`` and one zone file per zone into a fresh
temporary directory and runs ``knotd -c DIR/knot.conf`` in the foreground as a child process
(no systemd, no ``/etc/knot``, no ``/var/lib/knot``: every path, the databases, the log and the
control socket are inside the directory). It listens on ``127.0.0.1:<free port>`` for UDP and
TCP. The configuration, in short::

    server:   rundir: DIR, listen: 127.0.0.1@PORT, one UDP/TCP/background worker each
    database: storage: DIR
    control:  listen: DIR/knot.sock          (knotc -s DIR/knot.sock ...)
    template: storage: DIR, zonefile-load: whole, zonefile-sync: -1, journal-content: none,
              semantic-checks: off          (test zones may be deliberately odd)
    zone:     - domain: ORIGIN, file: ORIGIN.zone   (one per zone)

Zones are given per origin, as

* zone data in the shape of :class:`postoffice.auth.dns.Zone` (``{"mx1": [{"A": "127.0.0.2"}]}``):
  names are relative to the origin unless they are the origin or end with ``.ORIGIN``; ``"@"`` is
  the origin; host names inside records (MX, CNAME, PTR) are absolute. An SOA (MINIMUM, the
  negative TTL, is ``negative_ttl``) and an NS record are added;
* zone file text (RFC 1035 master format; ``$ORIGIN`` and ``$TTL`` are set before it);
* ``None``: the zone is configured but its file does not load, so Knot answers SERVFAIL for every
  name in it.

:meth:`AuthoritativeDns.set_zone` changes (or adds) a zone and waits until Knot serves the new
version (``knotc -b zone-reload``, or a configuration reload for new or broken zones).
:meth:`stop` sends SIGTERM to the PID it started (SIGKILL if it lingers) and removes the
directory (kept with ``keep=True`` or ``POSTOFFICE_KEEP_TMP=1``).

A missing ``knotd`` skips the test (fails under ``POSTOFFICE_REQUIRE_PEERS=1``).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TypeAlias

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rdtypes.ANY.SOA

from postoffice.auth.dns import (
    DEFAULT_TTL,
    MxRecord,
    PtrRecord,
    RRType,
    TxtRecord,
    ZoneData,
    normalize_name,
    parse_record,
)
from postoffice.testing.peers import require_peer
from postoffice.testing.processes import remove_tree, terminate

__all__ = [
    "KNOTC",
    "KNOTD",
    "AuthoritativeDns",
    "DnsServerError",
    "ZoneSpec",
    "free_udp_tcp_port",
    "published_zone",
    "zone_text",
]

KNOTD = "/usr/sbin/knotd"
"""Where Debian's ``knot`` package installs the server."""
KNOTC = "/usr/sbin/knotc"
"""...and its control tool."""

ZoneSpec: TypeAlias = ZoneData | str | None
"""A zone: data, zone file text, or None for a zone that fails to load (SERVFAIL)."""


class DnsServerError(RuntimeError):
    """The server could not be configured, started or reloaded; the message has its log tail."""


def free_udp_tcp_port(host: str = "127.0.0.1") -> int:
    """A port that was free for both UDP and TCP on ``host`` a moment ago."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(100):
        with socket.socket(family, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port
    raise DnsServerError(f"no port free for both UDP and TCP on {host}")


def _quote(data: bytes) -> str:
    out = []
    for byte in data:
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def _absolute(name: str) -> str:
    name = normalize_name(name)
    return "." if name == "." else name + "."


def _owner(name: str, origin: str) -> str:
    """Zone-data owner name → absolute name with final dot."""
    norm = normalize_name(name)
    if name.strip() == "@" or norm == origin:
        return origin + "."
    if norm.endswith("." + origin):
        return norm + "."
    return f"{norm}.{origin}."


def zone_text(
    origin: str,
    data: ZoneData,
    *,
    serial: int = 1,
    default_ttl: int = DEFAULT_TTL,
    negative_ttl: int = 60,
) -> str:
    """Render zone data as a master file for ``origin``, with SOA and NS added."""
    origin = normalize_name(origin)
    owners = {_owner(name, origin): entries for name, entries in data.items()}
    lines = [
        f"$ORIGIN {origin}.",
        f"$TTL {default_ttl}",
        f"@ {default_ttl} IN SOA ns.{origin}. hostmaster.{origin}. {serial} 3600 600 86400 {negative_ttl}",
        f"@ {default_ttl} IN NS ns.{origin}.",
    ]
    if f"ns.{origin}." not in owners:
        lines.append(f"ns.{origin}. {default_ttl} IN A 127.0.0.1")
    for owner, entries in owners.items():
        for entry in entries:
            if isinstance(entry, str):
                raise ValueError(
                    f"{owner}: {entry} cannot be served by a real server (use a dead nameserver)"
                )
            ttl = entry.get("TTL", entry.get("ttl", default_ttl))
            kinds = [k for k in entry if k.upper() != "TTL"]
            if len(kinds) != 1 or not isinstance(ttl, int):
                raise ValueError(f"{owner}: bad entry {entry!r}")
            kind, value = kinds[0].upper(), entry[kinds[0]]
            if kind == "CNAME":
                if not isinstance(value, str):
                    raise ValueError(f"{owner}: CNAME needs a name")
                lines.append(f"{owner} {ttl} IN CNAME {_absolute(value)}")
            else:
                record = parse_record(owner, RRType(kind), value)
                lines.append(f"{owner} {ttl} IN {_rdata(record)}")
    return "\n".join(lines) + "\n"


def _rdata(record: object) -> str:
    if isinstance(record, ipaddress.IPv4Address):
        return f"A {record}"
    if isinstance(record, ipaddress.IPv6Address):
        return f"AAAA {record}"
    if isinstance(record, MxRecord):
        return f"MX {record.preference} {_absolute(record.exchange)}"
    if isinstance(record, TxtRecord):
        return "TXT " + " ".join(_quote(s) for s in record.strings) if record.strings else 'TXT ""'
    if isinstance(record, PtrRecord):
        return f"PTR {_absolute(record.target)}"
    raise TypeError(f"cannot render {record!r}")


def published_zone(records: Iterable[Mapping[str, str]]) -> dict[str, list[dict[str, object]]]:
    """Zone data (absolute names) from ``postoffice domain dns --json`` rows (``{"type",
    "name", "value"}``); the HTTPS row (the policy file) is not DNS and is left out."""
    data: dict[str, list[dict[str, object]]] = {}
    for record in records:
        kind, name, value = record["type"], record["name"], record["value"]
        if kind == "MX":
            preference, host = value.split()
            entry: dict[str, object] = {"MX": [int(preference), host]}
        elif kind == "TXT":
            raw = value.encode()
            entry = {"TXT": [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]}
        elif kind == "CNAME":
            entry = {"CNAME": value}
        elif kind == "HTTPS":
            continue
        else:
            raise ValueError(f"{name}: unexpected record type {kind}")
        data.setdefault(name, []).append(entry)
    return data


class AuthoritativeDns:
    """Knot DNS serving ``zones`` on loopback; use as a context manager.

    ``server.nameserver`` is ``"127.0.0.1:PORT"``, ready for ``ResolverConfig(nameservers=...)``.
    """

    def __init__(
        self,
        zones: Mapping[str, ZoneSpec],
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        default_ttl: int = DEFAULT_TTL,
        negative_ttl: int = 60,
        knotd: str = KNOTD,
        knotc: str = KNOTC,
        keep: bool | None = None,
        start_timeout: float = 15.0,
    ) -> None:
        self.host = host
        self.port = port
        self.default_ttl = default_ttl
        self.negative_ttl = negative_ttl
        self.knotd = knotd
        self.knotc = knotc
        self.keep = keep if keep is not None else os.environ.get("POSTOFFICE_KEEP_TMP") == "1"
        self.start_timeout = start_timeout
        self.zones: dict[str, ZoneSpec] = {normalize_name(o): z for o, z in zones.items()}
        self._serials: dict[str, int] = {}
        self.root: Path | None = None
        self.kept_dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    # ---------------------------------------------------------------- addresses
    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the server listens on (UDP and TCP)."""
        if self.port is None:
            raise DnsServerError("not started")
        return (self.host, self.port)

    @property
    def nameserver(self) -> str:
        """``"host:port"`` (``"[v6]:port"``) for ``[dns] nameservers``."""
        host, port = self.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def pid(self) -> int | None:
        """PID of the running ``knotd``."""
        return self.process.pid if self.process is not None else None

    def _dir(self) -> Path:
        if self.root is None:
            raise DnsServerError("not started")
        return self.root

    @property
    def log_path(self) -> Path:
        return self._dir() / "knot.log"

    @property
    def control_socket(self) -> Path:
        return self._dir() / "knot.sock"

    def log_text(self) -> str:
        """Knot's log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except (OSError, DnsServerError):
            return ""

    # ---------------------------------------------------------------- files
    def _config(self, zones: list[str]) -> str:
        root = self._dir()
        listen = f"{self.host}@{self.port}"
        parts = [
            "server:",
            f'    rundir: "{root}"',
            f"    listen: {listen}",
            "    udp-workers: 1",
            "    tcp-workers: 1",
            "    background-workers: 1",
            "log:",
            f'  - target: "{self.log_path}"',
            "    any: info",
            "database:",
            f'    storage: "{root}"',
            "control:",
            f'    listen: "{self.control_socket}"',
            "template:",
            "  - id: default",
            f'    storage: "{root}"',
            "    zonefile-load: whole",
            "    zonefile-sync: -1",
            "    journal-content: none",
            "    semantic-checks: off",
        ]
        if zones:
            parts.append("zone:")
            for origin in zones:
                parts += [f'  - domain: "{origin}."', f'    file: "{origin}.zone"']
        return "\n".join(parts) + "\n"

    def _write_config(self, zones: list[str]) -> None:
        path = self._dir() / "knot.conf"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self._config(zones))
        tmp.replace(path)

    def _write_zone(self, origin: str) -> None:
        spec = self.zones[origin]
        serial = self._serials.get(origin, 0) + 1
        self._serials[origin] = serial
        if spec is None:
            text = "this zone is broken on purpose ((\n"
        elif isinstance(spec, str):
            text = f"$ORIGIN {origin}.\n$TTL {self.default_ttl}\n{spec}"
        else:
            text = zone_text(
                origin,
                spec,
                serial=serial,
                default_ttl=self.default_ttl,
                negative_ttl=self.negative_ttl,
            )
        path = self._dir() / f"{origin}.zone"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> AuthoritativeDns:
        """Write the configuration and zones, start ``knotd``, wait until every zone is served."""
        if self.process is not None:
            raise DnsServerError("already started")
        self.knotd = require_peer("knotd", self.knotd, package="knot")
        self.knotc = require_peer("knotc", self.knotc, package="knot")
        fixed_port = self.port is not None
        for attempt in range(3):
            self.root = Path(tempfile.mkdtemp(prefix="postoffice-knot-"))
            if not fixed_port:
                self.port = free_udp_tcp_port(self.host)
            try:
                for origin in self.zones:
                    self._write_zone(origin)
                self._write_config(list(self.zones))
                with (self.root / "knotd.stderr").open("wb") as stderr:
                    self.process = subprocess.Popen(
                        [self.knotd, "-c", str(self.root / "knot.conf")],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=stderr,
                        start_new_session=True,
                    )
                self._wait_ready()
                return self
            except DnsServerError:
                log = self.log_text()
                self.stop()
                if fixed_port or attempt == 2 or "bind" not in log:
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while not self.control_socket.exists():
            self._check_alive()
            if time.monotonic() > deadline:
                raise DnsServerError(f"knotd did not start\n{self._log_tail()}")
            time.sleep(0.02)
        for origin in self.zones:
            self._wait_serving(origin, deadline)

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise DnsServerError(f"knotd exited with {self.process.returncode}\n{self._log_tail()}")

    def _soa(self, origin: str, *, tcp: bool = False) -> tuple[int, int | None]:
        """(rcode, serial) of the zone's SOA as served now."""
        query = dns.message.make_query(origin + ".", dns.rdatatype.SOA)
        query.flags &= ~dns.flags.RD
        host, port = self.address
        response = (dns.query.tcp if tcp else dns.query.udp)(query, host, port=port, timeout=0.5)
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                soa = rrset[0]
                assert isinstance(soa, dns.rdtypes.ANY.SOA.SOA)
                return response.rcode(), int(soa.serial)
        return response.rcode(), None

    def _wait_serving(self, origin: str, deadline: float) -> None:
        """Wait until the zone answers as its spec says (serial for data, SERVFAIL for None)."""
        spec = self.zones.get(origin, None)
        want_serial = self._serials.get(origin) if isinstance(spec, Mapping) else None
        while True:
            self._check_alive()
            try:
                rcode, serial = self._soa(origin)
                if spec is None and origin in self.zones:
                    if rcode == dns.rcode.SERVFAIL:
                        return
                elif (
                    rcode == dns.rcode.NOERROR
                    and serial is not None
                    and (want_serial is None or serial == want_serial)
                ):
                    self._soa(origin, tcp=True)
                    return
            except (dns.exception.DNSException, OSError):
                pass
            if time.monotonic() > deadline:
                raise DnsServerError(
                    f"zone {origin} not served on {self.nameserver}\n{self._log_tail()}"
                )
            time.sleep(0.02)

    def _knotc(self, *args: str) -> None:
        proc = subprocess.run(
            [self.knotc, "-s", str(self.control_socket), "-b", "-t", "10", *args],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if proc.returncode != 0:
            raise DnsServerError(
                f"knotc {' '.join(args)}: {proc.stdout}{proc.stderr}\n{self._log_tail()}"
            )

    def set_zone(self, origin: str, zone: ZoneSpec) -> None:
        """Change (or add) a zone and wait until the server serves the new version."""
        origin = normalize_name(origin)
        was = self.zones.get(origin, ...)
        self.zones[origin] = zone
        self._write_zone(origin)
        deadline = time.monotonic() + self.start_timeout
        if was is ... or zone is None or was is None:
            # New zones, and zones (un)breaking, go through the configuration: a failed reload
            # of a loaded zone would keep serving the old contents.
            self._write_config([o for o in self.zones if o != origin])
            self._knotc("reload")
            self._write_config(list(self.zones))
            self._knotc("reload")
        else:
            self._knotc("zone-reload", origin + ".")
        self._wait_serving(origin, deadline)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop ``knotd`` (SIGTERM, then SIGKILL, by PID) and remove the directory."""
        proc, self.process = self.process, None
        terminate(proc, timeout)
        if self.root is not None:
            self.kept_dir = remove_tree(self.root, self.keep)
            self.root = None

    def _log_tail(self, lines: int = 30) -> str:
        text = self.log_text()
        try:
            text += (self._dir() / "knotd.stderr").read_text(errors="replace")
        except (OSError, DnsServerError):
            pass
        return "--- knot log ---\n" + "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> AuthoritativeDns:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
