"""Zone data as the RFC 7208 test suite writes it, for ``run_sync``, ``ZoneBackend`` and
``--dns-zone`` files.

The suite's ``zonedata`` is a mapping from name to a list of entries, each a one-key mapping
``{TYPE: value}`` or the marker ``TIMEOUT``::

    example.org:
      - SPF: v=spf1 mx -all          # the obsolete SPF type: see below
      - MX: [10, mx.example.org]     # [preference, host]; host "" is the root (a null MX)
      - TXT: [ "v=spf1 ", "-all" ]   # a string, or a list of strings (one record)
    mx.example.org:
      - A: 192.0.2.1
      - AAAA: 2001:db8::1
    slow.example.org:
      - TIMEOUT                      # lookups of types without records here time out
    alias.example.org:
      - CNAME: example.org

Beyond :meth:`postoffice.auth.dns.Zone.from_data`, which reads the same shape, this applies the
suite's conventions:

* ``SPF`` records are published as TXT records too, unless the name has ``TXT`` entries of its
  own (RFC 7208 dropped the SPF type; the suite relies on drivers copying them);
* ``TXT: NONE`` stands for "no TXT record" (and stops that copying).

``A``, ``AAAA``, ``MX``, ``TXT``, ``PTR`` and ``CNAME`` are read as :mod:`postoffice.auth.dns`
does (with an optional ``TTL`` key); ``SERVFAIL`` is accepted as a marker like ``TIMEOUT``.
Names absent from the data are NXDOMAIN. Anything else is a :class:`ZoneDataError` naming the
entry, e.g. ``zone data: 'example.org' entry 2: MX needs [preference, host], got 'mx'``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from postoffice.auth.dns import RRType, Zone, parse_record

__all__ = ["ZoneDataError", "suite_zone_data", "zone_from_suite_data"]

_MARKERS = ("TIMEOUT", "SERVFAIL")
_TYPES = ("A", "AAAA", "MX", "TXT", "PTR", "CNAME", "SPF")

Entry = dict[str, object] | str


class ZoneDataError(ValueError):
    """Zone data that does not have the documented shape."""


def zone_from_suite_data(data: object) -> Zone:
    """A :class:`~postoffice.auth.dns.Zone` from suite-shaped zone data (see the module
    docstring): usable with ``run_sync`` and ``ZoneBackend``. Raises :class:`ZoneDataError`."""
    converted = suite_zone_data(data)
    try:
        return Zone.from_data(converted)
    except ValueError as error:
        raise ZoneDataError(f"zone data: {error}") from None


def suite_zone_data(data: object) -> dict[str, list[Entry]]:
    """Suite-shaped zone data as :data:`~postoffice.auth.dns.ZoneData` (SPF entries copied to
    TXT where the name has no TXT entries, ``TXT: NONE`` dropped). Raises
    :class:`ZoneDataError`."""
    if not isinstance(data, Mapping):
        raise ZoneDataError(f"zone data: expected a mapping of names, got {type(data).__name__}")
    zone: dict[str, list[Entry]] = {}
    for name, entries in data.items():
        if not isinstance(name, str):
            raise ZoneDataError(f"zone data: name {name!r} is not a string")
        zone[name] = _entries(name, entries)
    return zone


def _entries(name: str, entries: object) -> list[Entry]:
    if isinstance(entries, str | bytes) or not isinstance(entries, Sequence):
        raise ZoneDataError(f"zone data: {name!r}: expected a list of records, got {entries!r}")
    converted: list[Entry] = []
    spf: list[dict[str, object]] = []
    has_txt = False
    for number, entry in enumerate(entries, 1):
        where = f"zone data: {name!r} entry {number}"
        if isinstance(entry, str):
            if entry.upper() not in _MARKERS:
                raise ZoneDataError(f"{where}: unknown marker {entry!r} (TIMEOUT, SERVFAIL)")
            converted.append(entry.upper())
            continue
        if not isinstance(entry, Mapping):
            raise ZoneDataError(f"{where}: expected {{TYPE: value}} or TIMEOUT, got {entry!r}")
        kinds = [k for k in entry if not (isinstance(k, str) and k.upper() == "TTL")]
        if len(kinds) != 1 or not isinstance(kinds[0], str) or kinds[0].upper() not in _TYPES:
            raise ZoneDataError(
                f"{where}: expected one record type of {', '.join(_TYPES)}, got {list(entry)}"
            )
        kind, value = kinds[0].upper(), entry[kinds[0]]
        record: dict[str, object] = {k: v for k, v in entry.items() if k != kinds[0]}
        if kind == "TXT":
            has_txt = True
            if value == "NONE":
                continue
        if kind in ("TXT", "SPF"):
            _check(where, RRType.TXT, value)
            record["TXT"] = value
            (spf if kind == "SPF" else converted).append(record)
            continue
        if kind == "MX" and not (
            isinstance(value, Sequence) and not isinstance(value, str | bytes)
            and len(value) == 2 and isinstance(value[0], int) and isinstance(value[1], str)
        ):
            raise ZoneDataError(f"{where}: MX needs [preference, host], got {value!r}")
        if kind == "CNAME":
            if not isinstance(value, str):
                raise ZoneDataError(f"{where}: CNAME needs a host name, got {value!r}")
        else:
            _check(where, RRType(kind), value)
        record[kind] = value
        converted.append(record)
    if not has_txt:
        converted.extend(spf)
    return converted


def _check(where: str, rdtype: RRType, value: object) -> None:
    try:
        parse_record(where, rdtype, value)
    except ValueError:
        expected = {
            RRType.A: "an IPv4 address",
            RRType.AAAA: "an IPv6 address",
            RRType.MX: "[preference, host]",
            RRType.TXT: "a string or a list of strings",
            RRType.PTR: "a host name",
        }[rdtype]
        raise ZoneDataError(f"{where}: {rdtype} needs {expected}, got {value!r}") from None
